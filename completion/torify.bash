# bash completion for torify(1); installed as
# <prefix>/share/bash-completion/completions/torify (make install, the package).
#
# Before the program: torify's options, the value an option takes (files for
# -c/--config, --library, --preload-file and -a's unix socket; enable,
# disable, status after --system), program names and show/on/off.  After the
# program: that program's own completion when bash-completion is loaded
# (_command_offset), else file names.

# Options followed by a value, as src/launcher/options.c reads them.
_torify_takes_value()
{
    case $1 in
        -a|--address|-P|--port|-u|--user|-p|--pass|-c|--config|--system|--preload-file|--library|--control-port|--cookie-file)
            return 0 ;;
    esac
    return 1
}

_torify()
{
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=${COMP_WORDS[COMP_CWORD-1]}
    local i=1 word system=
    COMPREPLY=()

    # Find where the program starts: the first word that is neither an
    # option nor an option's value (or the word after "--").
    while [ "$i" -lt "$COMP_CWORD" ]; do
        word=${COMP_WORDS[i]}
        if [ "$word" = -- ]; then
            i=$((i + 1))
            break
        elif [ "$word" = --system ]; then
            system=1
            i=$((i + 2))
        elif _torify_takes_value "$word"; then
            i=$((i + 2))
        elif [ "${word#-}" != "$word" ]; then
            i=$((i + 1))
        elif [ -n "$system" ]; then
            i=$((i + 1))  # a stray word after --system CMD: torify says so
        else
            break
        fi
    done

    if [ "$i" -lt "$COMP_CWORD" ]; then
        # An argument of the program (or of show/on/off, which take none).
        case ${COMP_WORDS[i]} in show|on|off) return 0 ;; esac
        if declare -F _command_offset >/dev/null; then
            _command_offset "$i"
        else
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi

    if [ "$i" -eq "$COMP_CWORD" ] && [ "$i" -gt 1 ] && [ "${COMP_WORDS[i-1]}" = -- ]; then
        COMPREPLY=($(compgen -c -- "$cur" | sort -u))  # after "--" only a program
        return 0
    fi

    case $prev in
        --system)
            COMPREPLY=($(compgen -W 'enable disable status' -- "$cur"))
            return 0 ;;
        -c|--config|--library|--preload-file|-a|--address|--cookie-file)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0 ;;
        -P|--port)
            COMPREPLY=($(compgen -W '9050 9150' -- "$cur"))
            return 0 ;;
        --control-port)
            COMPREPLY=($(compgen -W '9051 9151 /run/tor/control' -- "$cur"))
            return 0 ;;
        -u|--user|-p|--pass)
            return 0 ;;
    esac

    if [ -n "$system" ]; then
        COMPREPLY=($(compgen -W '--preload-file --library' -- "$cur"))
        return 0
    fi
    case $cur in
        -*)
            COMPREPLY=($(compgen -W '-a --address -P --port -u --user -p --pass -i --isolate --resolve-through-tor
                -d --debug -q --quiet -c --config --shell --check --new-identity --watch --control-port --cookie-file
                --no-guard --system
                -h --help --version --' -- "$cur")) ;;
        *)
            COMPREPLY=($(compgen -W 'show on off' -- "$cur") $(compgen -c -- "$cur" | sort -u)) ;;
    esac
    return 0
}

complete -F _torify torify

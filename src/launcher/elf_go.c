/*
 * launcher/elf_go.c — is this ELF file a Go program?
 *
 * A Go program makes its own system calls for connect and (with the pure
 * Go resolver) for DNS, even when it is dynamically linked against libc, so
 * libtorify.so never sees its traffic.  Without the kernel guard torify must
 * refuse it (program.c).  Every Go linker marks its output, and we look for
 * either mark:
 *   - a section named ".go.buildinfo" (the module/build information), or
 *   - the Go build-ID note: name "Go", type 4, in a section
 *     ".note.go.buildid" or any SHT_NOTE section or PT_NOTE segment (the
 *     segment survives tools that drop the section headers).
 *
 * The file is untrusted input: every read is of a fixed-size structure at an
 * offset checked against the file size first, counts are capped, and any
 * inconsistency simply means "not Go" (the caller then goes on with its
 * other checks).  Reads go through one window of the file (struct window):
 * the section headers and their names lie together, so a program's check
 * costs a few preads instead of one per header and name (70 for /bin/true;
 * it runs at every unguarded start).  Only native-endian files are examined: a
 * foreign-endian ELF cannot run here anyway.
 */
#include <elf.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "launcher/launcher.h"

/* Real Go binaries have a few dozen sections and a handful of segments. */
enum { MAX_HEADERS = 4096, MAX_NOTE_BYTES = 1 << 16, NAME_MAX_READ = 32 };

/* The last stretch of the file read: WINDOW bytes from an offset aligned
 * down to WINDOW_ALIGN, so a read of up to WINDOW - WINDOW_ALIGN bytes
 * always fits a window started for it. */
enum { WINDOW = 8192, WINDOW_ALIGN = 4096 };
struct window {
    uint64_t start, len; /* len 0: nothing read yet */
    unsigned char buf[WINDOW];
};

#define GO_NOTE_TYPE_BUILDID 4

/* The parts of an ELF header, section header and program header this file
 * needs, the same for both classes. */
struct elf_info {
    struct window *w;
    bool is64;
    uint64_t size; /* file size */
    uint64_t shoff, shentsize, shnum, shstrndx;
    uint64_t phoff, phentsize, phnum;
};

struct elf_sec {
    uint32_t name, type;
    uint64_t offset, size;
};

/* Read exactly len bytes at off, which must lie inside the file. */
static bool read_at(int fd, const struct elf_info *e, uint64_t off, void *buf, size_t len)
{
    if (off > e->size || len > e->size - off || off > (uint64_t)INT64_MAX)
        return false;
    struct window *w = e->w;
    if (len > WINDOW - WINDOW_ALIGN)
        return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
    if (w->len == 0 || off < w->start || off - w->start > w->len || len > w->len - (off - w->start)) {
        uint64_t start = off - off % WINDOW_ALIGN;
        uint64_t want = e->size - start < WINDOW ? e->size - start : WINDOW;
        ssize_t n = pread(fd, w->buf, (size_t)want, (off_t)start);
        w->len = 0;
        if (n < 0 || (uint64_t)n < off - start + len)
            return false; /* the file shrank under us */
        w->start = start;
        w->len = (uint64_t)n;
    }
    memcpy(buf, w->buf + (off - w->start), len);
    return true;
}

static bool native_endian(unsigned char data)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return data == (first ? ELFDATA2LSB : ELFDATA2MSB);
}

static bool read_elf_header(int fd, struct elf_info *e, struct window *w)
{
    e->w = w;
    w->len = 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        return false;
    e->size = (uint64_t)st.st_size;
    unsigned char ident[EI_NIDENT];
    e->is64 = false; /* read_at does not look at it */
    if (!read_at(fd, e, 0, ident, sizeof ident) || memcmp(ident, ELFMAG, SELFMAG) != 0 ||
        !native_endian(ident[EI_DATA]))
        return false;
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr h;
        if (!read_at(fd, e, 0, &h, sizeof h))
            return false;
        *e = (struct elf_info){ w, true, e->size, h.e_shoff, h.e_shentsize, h.e_shnum, h.e_shstrndx,
                                h.e_phoff, h.e_phentsize, h.e_phnum };
        return true;
    }
    if (ident[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr h;
        if (!read_at(fd, e, 0, &h, sizeof h))
            return false;
        *e = (struct elf_info){ w, false, e->size, h.e_shoff, h.e_shentsize, h.e_shnum, h.e_shstrndx,
                                h.e_phoff, h.e_phentsize, h.e_phnum };
        return true;
    }
    return false;
}

/* Offset of entry i of a table at base with entries of ent bytes; false on
 * overflow (read_at then checks it lies in the file). */
static bool entry_offset(uint64_t base, uint64_t ent, uint64_t i, uint64_t *off)
{
    if (ent != 0 && i > (UINT64_MAX - base) / ent)
        return false;
    *off = base + i * ent;
    return true;
}

static bool read_section(int fd, const struct elf_info *e, uint64_t i, struct elf_sec *s)
{
    uint64_t off;
    size_t need = e->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    /* An entry smaller than the structure would make us read past it. */
    if (e->shentsize < need || !entry_offset(e->shoff, e->shentsize, i, &off))
        return false;
    if (e->is64) {
        Elf64_Shdr h;
        if (!read_at(fd, e, off, &h, sizeof h))
            return false;
        *s = (struct elf_sec){ h.sh_name, h.sh_type, h.sh_offset, h.sh_size };
        return true;
    }
    Elf32_Shdr h;
    if (!read_at(fd, e, off, &h, sizeof h))
        return false;
    *s = (struct elf_sec){ h.sh_name, h.sh_type, h.sh_offset, h.sh_size };
    return true;
}

/* Section 0's sh_link, for e_shstrndx == SHN_XINDEX. */
static bool read_section0_link(int fd, const struct elf_info *e, uint64_t *link)
{
    if (e->is64) {
        Elf64_Shdr h;
        if (e->shentsize < sizeof h || !read_at(fd, e, e->shoff, &h, sizeof h))
            return false;
        *link = h.sh_link;
        return true;
    }
    Elf32_Shdr h;
    if (e->shentsize < sizeof h || !read_at(fd, e, e->shoff, &h, sizeof h))
        return false;
    *link = h.sh_link;
    return true;
}

/* Does the note area [off, off+size) hold a note named "Go" of type 4? */
static bool notes_have_go_buildid(int fd, const struct elf_info *e, uint64_t off, uint64_t size)
{
    if (size > MAX_NOTE_BYTES)
        size = MAX_NOTE_BYTES;
    uint64_t pos = 0;
    while (size - pos >= sizeof(Elf32_Nhdr)) { /* Elf64_Nhdr has the same layout */
        Elf32_Nhdr n;
        if (!read_at(fd, e, off + pos, &n, sizeof n))
            return false;
        pos += sizeof n;
        uint64_t name_len = ((uint64_t)n.n_namesz + 3) & ~(uint64_t)3;
        uint64_t desc_len = ((uint64_t)n.n_descsz + 3) & ~(uint64_t)3;
        if (name_len > size - pos)
            return false;
        /* The Go linker writes the name as "Go\0\0" (namesz 4); accept "Go\0" too. */
        if (n.n_type == GO_NOTE_TYPE_BUILDID && (n.n_namesz == 3 || n.n_namesz == 4)) {
            char name[4];
            if (!read_at(fd, e, off + pos, name, sizeof name))
                return false;
            if (memcmp(name, "Go\0", 3) == 0)
                return true;
        }
        pos += name_len;
        if (desc_len > size - pos)
            return false;
        pos += desc_len;
    }
    return false;
}

static bool sections_say_go(int fd, const struct elf_info *e)
{
    if (e->shoff == 0)
        return false;
    uint64_t shnum = e->shnum, strndx = e->shstrndx;
    struct elf_sec s0;
    if (!read_section(fd, e, 0, &s0))
        return false;
    /* Section 0 carries the real count (and string index) when they do
     * not fit the ELF header's 16-bit fields. */
    if (shnum == 0)
        shnum = s0.size;
    if (strndx == SHN_XINDEX && !read_section0_link(fd, e, &strndx))
        return false;
    if (shnum > MAX_HEADERS)
        shnum = MAX_HEADERS;
    struct elf_sec strtab;
    bool have_names = strndx != SHN_UNDEF && strndx < shnum && read_section(fd, e, strndx, &strtab);
    for (uint64_t i = 1; i < shnum; i++) {
        struct elf_sec s;
        if (!read_section(fd, e, i, &s))
            return false;
        if (have_names && s.name < strtab.size) {
            char name[NAME_MAX_READ + 1] = "";
            uint64_t left = strtab.size - s.name;
            size_t want = left < NAME_MAX_READ ? (size_t)left : NAME_MAX_READ;
            if (strtab.offset <= UINT64_MAX - s.name && read_at(fd, e, strtab.offset + s.name, name, want)) {
                name[want] = '\0';
                if (strcmp(name, ".go.buildinfo") == 0 || strcmp(name, ".note.go.buildid") == 0)
                    return true;
            }
        }
        if (s.type == SHT_NOTE && notes_have_go_buildid(fd, e, s.offset, s.size))
            return true;
    }
    return false;
}

static bool segments_say_go(int fd, const struct elf_info *e)
{
    size_t need = e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    if (e->phoff == 0 || e->phentsize < need)
        return false;
    for (uint64_t i = 0; i < e->phnum && i < MAX_HEADERS; i++) {
        uint64_t off, p_off, p_size;
        uint32_t type;
        if (!entry_offset(e->phoff, e->phentsize, i, &off))
            return false;
        if (e->is64) {
            Elf64_Phdr h;
            if (!read_at(fd, e, off, &h, sizeof h))
                return false;
            type = h.p_type, p_off = h.p_offset, p_size = h.p_filesz;
        } else {
            Elf32_Phdr h;
            if (!read_at(fd, e, off, &h, sizeof h))
                return false;
            type = h.p_type, p_off = h.p_offset, p_size = h.p_filesz;
        }
        if (type == PT_NOTE && notes_have_go_buildid(fd, e, p_off, p_size))
            return true;
    }
    return false;
}

bool elf_is_go(int fd)
{
    struct elf_info e;
    struct window w;
    if (!read_elf_header(fd, &e, &w))
        return false;
    return sections_say_go(fd, &e) || segments_say_go(fd, &e);
}

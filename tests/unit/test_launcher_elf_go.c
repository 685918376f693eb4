/* launcher/elf_go: telling a Go program by its build marks, on crafted ELF
 * bytes — including truncated and inconsistent ones, which must come out
 * "not Go" without reading outside the file. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "launcher/launcher.h"

/* Layout of the crafted file:
 *   0x000 Elf64_Ehdr
 *   0x040 two Elf64_Phdr (PT_LOAD, PT_NOTE)
 *   0x100 note area
 *   0x180 section name strings
 *   0x200 section headers: null, .shstrtab, one named section */
enum { PH = 0x40, NOTE = 0x100, STR = 0x180, SH = 0x200, FILE_LEN = SH + 3 * sizeof(Elf64_Shdr) };

static unsigned char img[FILE_LEN];

static const char strings[] = "\0.shstrtab\0.go.buildinfo\0.note.go.buildid\0.data\0.note.gnu.build-id";
#define NAME_SHSTRTAB 1
#define NAME_BUILDINFO 11
#define NAME_BUILDID 25
#define NAME_DATA 42
#define NAME_GNU_ID 48

static Elf64_Ehdr *eh(void)
{
    return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *ph(int i)
{
    return (Elf64_Phdr *)(img + PH) + i;
}

static Elf64_Shdr *sh(int i)
{
    return (Elf64_Shdr *)(img + SH) + i;
}

/* A note at NOTE: owner name (with its NUL), type, 8 bytes of descriptor. */
static size_t put_note(const char *name, uint32_t namesz, uint32_t type)
{
    Elf64_Nhdr n = { namesz, 8, type };
    memcpy(img + NOTE, &n, sizeof n);
    memcpy(img + NOTE + sizeof n, name, strlen(name) + 1);
    size_t name_len = ((size_t)namesz + 3) & ~(size_t)3;
    memset(img + NOTE + sizeof n + name_len, 0xab, 8);
    return sizeof n + name_len + 8;
}

/* A plain (C-like) ELF: a PT_NOTE and a section of the given name/type. */
static void build(uint32_t sec_name, uint32_t sec_type)
{
    memset(img, 0, sizeof img);
    Elf64_Ehdr *e = eh();
    memcpy(e->e_ident, ELFMAG, SELFMAG);
    e->e_ident[EI_CLASS] = ELFCLASS64;
    e->e_ident[EI_DATA] = ELFDATA2LSB;
    e->e_ident[EI_VERSION] = EV_CURRENT;
    e->e_type = ET_EXEC;
    e->e_machine = EM_X86_64;
    e->e_version = EV_CURRENT;
    e->e_ehsize = sizeof *e;
    e->e_phoff = PH;
    e->e_phentsize = sizeof(Elf64_Phdr);
    e->e_phnum = 2;
    e->e_shoff = SH;
    e->e_shentsize = sizeof(Elf64_Shdr);
    e->e_shnum = 3;
    e->e_shstrndx = 1;
    size_t note_len = put_note("GNU", 4, NT_GNU_BUILD_ID);
    *ph(0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0, .p_filesz = FILE_LEN, .p_memsz = FILE_LEN };
    *ph(1) = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = NOTE, .p_filesz = note_len, .p_memsz = note_len };
    memcpy(img + STR, strings, sizeof strings);
    *sh(1) = (Elf64_Shdr){ .sh_name = NAME_SHSTRTAB, .sh_type = SHT_STRTAB, .sh_offset = STR,
                           .sh_size = sizeof strings };
    *sh(2) = (Elf64_Shdr){ .sh_name = sec_name, .sh_type = sec_type, .sh_offset = NOTE, .sh_size = note_len };
}

/* Run elf_is_go on the first len bytes of img, through a real descriptor. */
static bool is_go_n(size_t len)
{
    int fd = memfd_create("elf", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img, len), (ssize_t)len);
    bool r = elf_is_go(fd);
    close(fd);
    return r;
}

static bool is_go(void)
{
    return is_go_n(sizeof img);
}

static void test_a_c_program_is_not_go(void **state)
{
    build(NAME_GNU_ID, SHT_NOTE);
    assert_false(is_go());
    build(NAME_DATA, SHT_PROGBITS);
    assert_false(is_go());
}

static void test_a_go_buildinfo_section_is_go(void **state)
{
    build(NAME_BUILDINFO, SHT_PROGBITS);
    assert_true(is_go());
}

static void test_a_go_buildid_section_is_go(void **state)
{
    build(NAME_BUILDID, SHT_NOTE);
    assert_true(is_go());
}

static void test_the_go_note_in_any_note_section_is_go(void **state)
{
    build(NAME_DATA, SHT_NOTE);
    ph(1)->p_type = PT_NULL; /* only the section can tell */
    put_note("Go", 4, 4);
    assert_true(is_go());
    put_note("Go", 3, 4); /* "Go" with only its NUL counted */
    assert_true(is_go());
}

static void test_the_go_note_segment_alone_is_go(void **state)
{
    /* Section headers gone (as after sstrip): the PT_NOTE still tells. */
    build(NAME_DATA, SHT_PROGBITS);
    put_note("Go", 4, 4);
    eh()->e_shoff = 0;
    eh()->e_shnum = 0;
    assert_true(is_go());
}

static void test_a_go_named_note_of_another_type_or_owner_is_not_go(void **state)
{
    build(NAME_DATA, SHT_NOTE);
    put_note("Go", 4, 5); /* type 4 is Go's build ID */
    assert_false(is_go());
    put_note("Gx", 4, 4);
    assert_false(is_go());
    put_note("GNU", 4, 4); /* NT_GNU_GOLD_VERSION: type 4, but GNU's */
    assert_false(is_go());
}

static void test_every_truncation_of_a_go_file_is_handled(void **state)
{
    /* The marks sit at known places; before they are in the file, the
     * answer is "not Go", and nothing reads past the end (ASan / valgrind
     * builds of this test would say). */
    build(NAME_BUILDINFO, SHT_PROGBITS);
    for (size_t len = 0; len < sizeof img; len++) {
        bool r = is_go_n(len);
        if (len < sizeof(Elf64_Ehdr))
            assert_false(r);
    }
    assert_true(is_go_n(sizeof img));
}

static void test_inconsistent_headers_are_not_go(void **state)
{
    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    eh()->e_shoff = UINT64_MAX - 8; /* offset arithmetic would wrap */
    assert_false(is_go());

    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    eh()->e_shentsize = 8; /* smaller than a section header */
    assert_false(is_go());

    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    eh()->e_shstrndx = 200; /* no such section */
    assert_false(is_go());

    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    sh(2)->sh_name = 0xfffffff0; /* name outside the string table */
    assert_false(is_go());

    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    sh(1)->sh_offset = UINT64_MAX - 4; /* string table outside the file */
    assert_false(is_go());

    build(NAME_BUILDINFO, SHT_PROGBITS);
    ph(1)->p_type = PT_NULL;
    sh(1)->sh_size = NAME_BUILDINFO + 5; /* string table ends inside ".go.buildinfo" */
    assert_false(is_go());
}

static void test_a_note_with_a_huge_size_is_not_go(void **state)
{
    build(NAME_DATA, SHT_NOTE);
    ph(1)->p_type = PT_NULL;
    put_note("Go", 4, 4);
    ((Elf64_Nhdr *)(img + NOTE))->n_namesz = 0xffffffff;
    assert_false(is_go());
    put_note("GNU", 4, NT_GNU_BUILD_ID);
    ((Elf64_Nhdr *)(img + NOTE))->n_descsz = 0xfffffffd; /* a second note would follow it */
    sh(2)->sh_size = UINT64_MAX;
    assert_false(is_go());
}

static void test_non_elf_and_foreign_endian_are_not_go(void **state)
{
    build(NAME_BUILDINFO, SHT_PROGBITS);
    img[EI_DATA] = ELFDATA2MSB;
    assert_false(is_go());
    build(NAME_BUILDINFO, SHT_PROGBITS);
    img[EI_CLASS] = 7;
    assert_false(is_go());
    build(NAME_BUILDINFO, SHT_PROGBITS);
    memcpy(img, "#!/bin/sh\n", 10);
    assert_false(is_go());
}

/* The crafted file spread over 64 KiB: headers, names and notes each in
 * another part of the file, the names straddling a 4 KiB boundary, so the
 * reads cannot all come from one stretch read ahead. */
enum { BIG = 64 * 1024, BIG_SH = 0x5000, BIG_STR = 0x9ff8, BIG_NOTE = 0xf000 };
static unsigned char big[BIG];

static bool spread_is_go(size_t len)
{
    memset(big, 0, sizeof big);
    memcpy(big, img, SH);
    memcpy(big + BIG_SH, img + SH, 3 * sizeof(Elf64_Shdr));
    memcpy(big + BIG_STR, img + STR, sizeof strings);
    memcpy(big + BIG_NOTE, img + NOTE, STR - NOTE);
    Elf64_Ehdr *e = (Elf64_Ehdr *)big;
    e->e_shoff = BIG_SH;
    Elf64_Phdr *p = (Elf64_Phdr *)(big + PH) + 1;
    p->p_offset = BIG_NOTE;
    Elf64_Shdr *h = (Elf64_Shdr *)(big + BIG_SH);
    h[1].sh_offset = BIG_STR;
    h[2].sh_offset = BIG_NOTE;
    int fd = memfd_create("elf", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, big, len), (ssize_t)len);
    bool r = elf_is_go(fd);
    close(fd);
    return r;
}

static void test_marks_far_apart_in_a_large_file(void **state)
{
    build(NAME_DATA, SHT_PROGBITS);
    assert_false(spread_is_go(sizeof big));
    build(NAME_BUILDINFO, SHT_PROGBITS);
    assert_true(spread_is_go(sizeof big));
    build(NAME_DATA, SHT_NOTE);
    ph(1)->p_type = PT_NULL;
    put_note("Go", 4, 4);
    assert_true(spread_is_go(sizeof big));
    build(NAME_DATA, SHT_PROGBITS);
    put_note("Go", 4, 4); /* the segment alone */
    assert_true(spread_is_go(sizeof big));
    /* Cut inside the names: the name is not there, and nothing is read
     * past the end of what is. */
    build(NAME_BUILDINFO, SHT_PROGBITS);
    assert_false(spread_is_go(BIG_STR + NAME_BUILDINFO + 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_c_program_is_not_go),
        cmocka_unit_test(test_a_go_buildinfo_section_is_go),
        cmocka_unit_test(test_a_go_buildid_section_is_go),
        cmocka_unit_test(test_the_go_note_in_any_note_section_is_go),
        cmocka_unit_test(test_the_go_note_segment_alone_is_go),
        cmocka_unit_test(test_a_go_named_note_of_another_type_or_owner_is_not_go),
        cmocka_unit_test(test_every_truncation_of_a_go_file_is_handled),
        cmocka_unit_test(test_inconsistent_headers_are_not_go),
        cmocka_unit_test(test_a_note_with_a_huge_size_is_not_go),
        cmocka_unit_test(test_non_elf_and_foreign_endian_are_not_go),
        cmocka_unit_test(test_marks_far_apart_in_a_large_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

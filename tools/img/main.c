/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/main.c — hotblock-img: usage, per-command help and the subcommand table. */

#include "tools/img/img.h"

#include "crypto/secret.h"

const char *hb_img_prog = "hotblock-img";

typedef struct ImgCommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;   /* the arguments, qemu-img's order */
    const char *what;       /* one line for per-command --help */
} ImgCommand;

static const ImgCommand commands[] = {
    { "create", hb_img_cmd_create,
      "[--object OBJ]... [-q] -f FMT [-b BACKING -F BACKING_FMT] [-u] [-o OPTS]...\n"
      "         FILENAME [SIZE]",
      "Create a new image.  A backing file needs its format (-F, or -o backing_fmt);\n"
      "it is opened to check it and to take SIZE from it unless -u." },
    { "info", hb_img_cmd_info,
      "[--object OBJ]... [-f FMT] [--image-opts] [-U] [--output=human|json]\n"
      "       [--backing-chain] FILENAME",
      "Print what the image is: format, sizes, backing file, format specifics." },
    { "check", hb_img_cmd_check,
      "[-f FMT] [-p] [-q] [-U] [-r leaks|all] [--output=human|json] FILENAME",
      "Check a qcow2 image's metadata (exit 0 clean, 1 check failed, 2 corruptions,\n"
      "3 leaks only, 63 format without checks).  -r repairs leaked clusters, or all\n"
      "refcount and OFLAG_COPIED errors, holding the image's write lock.  -p shows\n"
      "progress (not with --output=json)." },
    { "convert", hb_img_cmd_convert,
      "[--object OBJ]... [-c] [-p] [-q] [-n] [-U] [-f FMT] [--image-opts]\n"
      "          [--target-image-opts] [-S SPARSE] [-t CACHE] [-T SRC_CACHE] [-W] [-m N]\n"
      "          [-B BACKING -F BACKING_FMT] -O FMT [-o OPTS]... SRC DST",
      "Copy an image's data into a new (or with -n an existing) image.  Runs of\n"
      "SPARSE bytes (default 4k; 0: none) that the new image reads already are not\n"
      "written; with -B that is its backing file's data.  -c writes each cluster\n"
      "compressed (qcow2, zlib; one that does not shrink is written as it is).\n"
      "'-o help' lists FMT's options." },
    { "resize", hb_img_cmd_resize,
      "[--object OBJ]... [-q] [-f FMT] [--image-opts]\n"
      "         [--preallocation=PREALLOC] [--shrink] FILENAME [+ | -]SIZE",
      "Grow (or with --shrink shrink) an image; +SIZE and -SIZE are relative.\n"
      "--preallocation (off, metadata, falloc, full; growing only) says what the new\n"
      "part gets: metadata maps it (qcow2), falloc reserves it, full writes zeroes." },
    { "amend", hb_img_cmd_amend,
      "[--object OBJ]... [-q] [-f FMT] [--image-opts] -o OPTS FILENAME",
      "Add (state=active,new-secret=ID[,keyslot=N][,iter-time=MS]) or erase\n"
      "(state=inactive,keyslot=N | old-secret=ID) a LUKS1 or LUKS2 keyslot.\n"
      "'-o help' lists the options; --force is refused." },
    { "compare", hb_img_cmd_compare,
      "[--object OBJ]... [-q] [-s] [-U] [-f FMT] [-F FMT] [--image-opts] FILENAME1 FILENAME2",
      "Compare two images' contents (exit 0 identical, 1 different, 2 error).  Past\n"
      "the shorter one's end the longer must read as zeroes, unless -s (strict)." },
    { "measure", hb_img_cmd_measure,
      "[--output=human|json] [-O FMT] [-o OPTS]... [--size SIZE | [--object OBJ]...\n"
      "          [-f FMT] [--image-opts] [-U] FILENAME]",
      "How big a new raw or qcow2 image of SIZE, or converted from FILENAME, would be:\n"
      "the space it needs now and fully allocated, in qemu-img's numbers." },
    { "snapshot", hb_img_cmd_snapshot,
      "[--object OBJ]... [-q] [-f FMT] [--image-opts] [-U] -l FILENAME",
      "List a qcow2 image's internal snapshots (made by QEMU; hotblock takes none,\n"
      "so -c, -a and -d are refused)." },
    { "map", hb_img_cmd_map,
      "[--object OBJ]... [--image-opts] [-f FMT] [--start-offset=OFFSET]\n"
      "      [--max-length=LEN] [--output=human|json] [-U] FILENAME",
      "Print where the image's data lies: json lists every extent (data, zeroes,\n"
      "or left to a backing file, with its depth in the chain); human lists the\n"
      "data extents and the file and offset holding each." },
    { "bench", hb_img_cmd_bench,
      "[-c COUNT] [-d DEPTH] [-f FMT] [--flush-interval=N] [--no-drain] [-i AIO] [-n]\n"
      "        [-o OFFSET] [--pattern=BYTE] [-q] [-s BUFSIZE] [-S STEP] [-t CACHE] [-U] [-w]\n"
      "        [--object OBJ]... [--image-opts] FILENAME",
      "Time COUNT requests (75000) of BUFSIZE bytes (4096) to the image, DEPTH (64) in\n"
      "flight, from OFFSET in steps of STEP, opened directly (no daemon).  AIO is\n"
      "io_uring (also native, -n) or threads." },
    { "commit", hb_img_cmd_commit,
      "[--object OBJ]... [--image-opts] [-q] [-f FMT] [-t CACHE] [-b BASE] [-r RATE_LIMIT]\n"
      "         [-d] [-p] FILENAME",
      "Write the image's data into its backing file (or with -b into BASE further down\n"
      "its chain), then empty the image unless -d (-b implies -d).  -r limits the\n"
      "copy to RATE_LIMIT bytes a second." },
    { "rebase", hb_img_cmd_rebase,
      "[--object OBJ]... [--image-opts] [-U] [-q] [-f FMT] [-t CACHE] [-T SRC_CACHE]\n"
      "         [-p] [-u] -b BACKING_FILE [-F BACKING_FMT] FILENAME",
      "Make a qcow2 image's backing file BACKING_FILE (\"\" for none).  The image keeps\n"
      "its contents: where it leaves bytes to its backing file and the old and new\n"
      "ones differ, the old bytes are copied in.  -u only rewrites the header." },
    { "dd", hb_img_cmd_dd,
      "[--object OBJ]... [-p] [-U] [-f FMT] [-O OUTPUT_FMT] [--image-opts] [bs=BLOCK_SIZE]\n"
      "     [count=BLOCKS] [skip=BLOCKS] if=INPUT of=OUTPUT",
      "Copy INPUT into a new image OUTPUT, dd-style (count= counts from the start,\n"
      "skipped blocks included, as in qemu-img).  -p shows progress." },
};

static void print_synopsis(FILE *f, const ImgCommand *c)
{
    fprintf(f, "  %s %s\n", c->name, c->synopsis);
}

void hb_img_usage(FILE *f)
{
    fprintf(f, "usage: hotblock-img [--help] [--version] COMMAND [ARGS]\n\n");
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        print_synopsis(f, &commands[i]);
    }
    fprintf(f,
"\n"
"FMT is raw, luks or qcow2.  Images in other formats (vmdk, vdi, vhdx, qed,\n"
"vpc, parallels, dmg, qcow) are recognised and refused by name.\n"
"-U shares the image with a process writing it (QEMU's image locks).\n"
"FILENAME may be json:{...} describing a whole block graph, or with\n"
"--image-opts a key=value list (driver=luks,file.filename=x,...).\n"
"OBJ is a secret: secret,id=ID,data=TEXT | file=PATH [,format=base64].\n"
"SIZE takes k, M, G, T suffixes (powers of 1024).\n"
"'hotblock-img COMMAND --help' describes one command.\n");
}

void hb_img_cmd_help(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_str_equal(commands[i].name, name)) {
            printf("usage: hotblock-img %s %s\n\n%s\n", name, commands[i].synopsis,
                   commands[i].what);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        hb_img_usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        hb_img_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("hotblock-img version %s\n", HB_VERSION);
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            int ret = commands[i].run(argc - 1, argv + 1);
            hb_secret_clear_all();
            return ret;
        }
    }
    return hb_img_usage_error("Command not found: %s", argv[1]);
}

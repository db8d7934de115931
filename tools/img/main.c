/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tools/img/main.c — hotblock-img: usage and the subcommand table. */

#include "tools/img/img.h"

#include "crypto/secret.h"

const char *hb_img_prog = "hotblock-img";

void hb_img_usage(FILE *f)
{
    fprintf(f,
"usage: hotblock-img [--help] COMMAND [ARGS]\n"
"\n"
"  create [--object OBJ]... -f FMT [-o OPTS]... FILENAME [SIZE]\n"
"  info [--object OBJ]... [-f FMT] [--image-opts] [-U] [--output=human|json]\n"
"       [--backing-chain] FILENAME\n"
"  check [-f FMT] [-U] [--output=human|json] FILENAME\n"
"  convert [--object OBJ]... [-p] [-n] [-f FMT] [--image-opts] [--target-image-opts]\n"
"          -O FMT [-o OPTS]... SRC DST\n"
"\n"
"FMT is raw, luks or qcow2.  check supports qcow2 only (exit status as\n"
"qemu-img check: 0 clean, 1 check failed, 2 corruptions, 3 leaks only,\n"
"63 format without checks).\n"
"FILENAME may be json:{...} describing a whole block graph, or with\n"
"--image-opts a key=value list (driver=luks,file.filename=x,...).\n"
"OBJ is a secret: secret,id=ID,data=TEXT | file=PATH [,format=base64].\n"
"SIZE takes k, M, G, T suffixes (powers of 1024).\n");
}

int main(int argc, char **argv)
{
    int ret;

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
    const char *cmd = argv[1];
    if (!strcmp(cmd, "create")) {
        ret = hb_img_cmd_create(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "info")) {
        ret = hb_img_cmd_info(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "check")) {
        ret = hb_img_cmd_check(argc - 1, argv + 1);
    } else if (!strcmp(cmd, "convert")) {
        ret = hb_img_cmd_convert(argc - 1, argv + 1);
    } else {
        return hb_img_usage_error("Command not found: %s", cmd);
    }
    hb_secret_clear_all();
    return ret;
}

"""python -m benchmarks NAME [flags]: run one benchmark (NAME --help for its flags)."""
import importlib
import sys

BENCHMARKS = ("driver", "allocator", "pggan", "gans", "mtdnn", "action", "flow", "detection", "speech", "rmdl",
              "segmentation", "ocr", "lineage", "serving", "input")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHMARKS:
        print(f"usage: python -m benchmarks {{{','.join(BENCHMARKS)}}} [flags]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    importlib.import_module(f"benchmarks.{argv[0]}").main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())

import sys

from sysnative.cli import main

if __name__ == "__main__":
    sys.exit(main())

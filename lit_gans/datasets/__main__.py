import sys

from lit_gans.datasets import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

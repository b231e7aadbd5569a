"""``python -m dbfold``."""

from dbfold.cli import main

if __name__ == "__main__":
    main()

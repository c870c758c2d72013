"""`python -m bookrec` runs the command line."""

from bookrec.cli import main

if __name__ == "__main__":
    main()

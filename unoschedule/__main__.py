"""``python -m unoschedule`` runs the command line."""

from unoschedule.cli import main

if __name__ == "__main__":
    main()

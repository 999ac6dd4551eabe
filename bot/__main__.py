from bot.cli import main

if __name__ == "__main__":  # not when multiprocessing imports the main module
    raise SystemExit(main())

"""``python -m app`` starts ReFusion Studio."""

from app.main import main

if __name__ == "__main__":
    raise SystemExit(main())

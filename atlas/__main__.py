"""`python -m atlas` runs the command line; `python -m atlas app` starts the dashboard."""

import sys

if sys.argv[1:2] == ["app"] and not set(sys.argv[2:]) & {"-h", "--help"}:
    # Straight to Streamlit: the command line's own imports (pandas) would delay the server's start.
    from atlas.serve import run_app

    raise SystemExit(run_app(sys.argv[2:]))

from atlas.cli import main  # noqa: E402

raise SystemExit(main())

"""`python -m voicechat …` is the `voicechat` command (serve, say, assistant, prepare)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

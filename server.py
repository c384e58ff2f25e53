"""Entry point: `python server.py [--host 127.0.0.1] [--port 8000]` starts the voicechat server."""

import sys

from voicechat.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

"""`python -m taskmill.provider --capability NAME --command CMD [ARG...]`."""

import asyncio
import os
import sys

from taskmill.provider.cli import parse_args
from taskmill.provider.command import CommandRunner
from taskmill.provider.runtime import serve, setup_logging


def main(argv: list[str] | None = None) -> int:
    config, command = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
    setup_logging(config.identity)
    asyncio.run(serve(config, CommandRunner(command)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The run's own log, train.log in its folder (conf/hydra/job_logging/lightning.yaml): what the run printed, each
line with its time. Hydra opens it in train.py's process; these put in what would otherwise reach the terminal alone:
the error that stopped the run, a spawned DDP rank's lines, Python's warnings as one line each."""

import logging


class WarningLine(logging.Filter):
    """A captured warning without the newline `warnings.formatwarning` ends it with, which the log's handlers would
    follow with a blank line."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The formatted warning is the message (Python 3.11 on) or its one argument (3.10).
        record.msg, record.args = record.getMessage().rstrip("\n"), None
        return True


def run_log_handler() -> logging.FileHandler | None:
    """The handler writing the run's log file, where this process has one."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)), None)


def into_run_log(line: str) -> None:
    """`line`, which the entry point prints on stderr, into the run's log file too where one is open: the log of a
    run that stopped on an error then says why."""
    if (handler := run_log_handler()) is not None:
        handler.handle(logging.LogRecord("gan_digits", logging.ERROR, __file__, 0, line, None, None))


def log_into(path: str, formatter: logging.Formatter) -> None:
    """Lightning's lines, which every message of a run goes out by, into the run's log file at `path` too: for a
    spawned DDP rank, where Hydra set no logging up."""
    handler = logging.FileHandler(path)
    handler.setFormatter(formatter)
    logging.getLogger("lightning.pytorch").addHandler(handler)

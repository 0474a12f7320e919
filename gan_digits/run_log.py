"""The run's own log, train.log in its folder (conf/hydra/job_logging/lightning.yaml): what the run printed, each
line with its time. Hydra opens it in train.py's process; these put in what would otherwise reach the terminal alone
or not at all: the error that stopped the run, a spawned DDP rank's lines, Python's warnings as one line each, the
epoch lines while the terminal has the progress bar."""

import logging

HANDLER = "run_log"  # the name of the handler that writes it (the job logging config's), not another file's


class RunLogFile(logging.FileHandler):
    """train.log's handler. A line it cannot write (the disk is full) is passed over: the run stops on that disk's
    one-line error, where logging would print a traceback at every line after it."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class WarningLine(logging.Filter):
    """A captured warning without the newline `warnings.formatwarning` ends it with, which the log's handlers would
    follow with a blank line."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The formatted warning is the message (Python 3.11 on) or its one argument (3.10).
        record.msg, record.args = record.getMessage().rstrip("\n"), None
        return True


def run_log_handler() -> logging.FileHandler | None:
    """The handler writing the run's log file, where this process has one: Hydra's, on the root logger, or the one
    `log_into` gave Lightning's logger in a spawned rank."""
    loggers = (logging.getLogger(), logging.getLogger("lightning.pytorch"))
    return next((h for logger in loggers for h in logger.handlers if h.get_name() == HANDLER), None)


def into_run_log(line: str, level: int = logging.INFO) -> None:
    """`line` into the run's log file alone, where one is open: what the terminal gets otherwise (the error an entry
    point prints on stderr; the progress bar, where the log gets an epoch's line instead)."""
    if (handler := run_log_handler()) is not None:
        handler.handle(logging.LogRecord("gan_digits", level, __file__, 0, line, None, None))


def log_into(path: str, formatter: logging.Formatter) -> None:
    """Lightning's lines, which every message of a run goes out by, into the run's log file at `path` too: for a
    spawned DDP rank, where Hydra set no logging up."""
    handler = RunLogFile(path)
    handler.set_name(HANDLER)
    handler.setFormatter(formatter)
    logging.getLogger("lightning.pytorch").addHandler(handler)

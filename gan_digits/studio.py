"""A local web page to play with a trained generator: `python -m gan_digits.studio ckpt=<path> [port=8000]`.

Pick digits (a conditional model's) or codes (InfoGAN's, or a model's clusters) and seeds, walk between two seeds,
add or subtract their noise: sliders and buttons, and the image follows at once. Served by the standard
library on 127.0.0.1 only; every image is drawn by the same modes as `sample.py`. A bad request gets a
4xx with a message, never a crash.
"""

import io
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from gan_digits.checkpoint import build_generator, load_checkpoint
from gan_digits.checks import ConfigError, UserInputError, check_int, report_user_errors
from gan_digits.command_line import KeyValueParser
from gan_digits.modes import MODES, SEEDS
from gan_digits.nets.contract import Generator
from gan_digits.sampling import CODES_ARE, grid_image, save_png

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The integer parameters a request may give: name -> (smallest, largest). Bounds keep one request cheap.
INT_PARAMS = {"n": (1, 256), "seed": SEEDS, "a": SEEDS, "b": SEEDS, "steps": (2, 64), "columns": (1, 32)}
STUDIO_MODES = ("grid", "digits", "interpolate", "arithmetic")
PAGE = (Path(__file__).with_name("studio.html")).read_text()


def parse_request(query: str) -> tuple[str, dict]:
    """(mode, params) from a query string such as `mode=grid&n=16&seed=3&digits=3,7`; ConfigError if bad."""
    fields = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    mode = fields.pop("mode", "grid")
    if mode not in STUDIO_MODES:
        raise ConfigError(f"mode={mode!r} is not allowed: expected one of {', '.join(STUDIO_MODES)}")
    params = {}
    for key, text in fields.items():
        if key in INT_PARAMS:
            low, high = INT_PARAMS[key]
            if not text.lstrip("-").isdigit() or not low <= int(text) <= high:
                raise ConfigError(f"{key}={text!r} is not allowed: expected an integer from {low} to {high}")
            params[key] = int(text)
        elif key in ("digits", "codes"):  # a conditional model's digits, or a model's codes
            parts = [p for p in text.split(",") if p]
            if not parts or not all(p.isdigit() for p in parts):
                raise ConfigError(f"{key}={text!r} is not allowed: expected {key} such as 3,7 separated by commas")
            params[key] = [int(p) for p in parts]
        elif key == "op":
            params["op"] = text
        else:
            raise ConfigError(f"unknown parameter {key!r}: expected mode, digits, codes, op, {', '.join(INT_PARAMS)}")
    return mode, params


def render_png(generator: Generator, mode: str, params: dict) -> bytes:
    sheet = MODES[mode](generator, **params)
    buffer = io.BytesIO()
    save_png(grid_image(sheet.images, sheet.columns), buffer)
    return buffer.getvalue()


class StudioServer(ThreadingHTTPServer):
    """The standard library's threaded server, quiet about pages that leave before their answer."""

    def handle_error(self, request, client_address) -> None:
        # A page closed or reloaded before its image was sent: no fault of the studio's, and no traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(generator: Generator, host: str = "127.0.0.1", port: int = 8000) -> StudioServer:
    """The studio's HTTP server (not yet serving): `serve_forever()` it, `shutdown()` it."""
    if host not in LOCAL_HOSTS:
        raise ConfigError(f"host={host!r} is not allowed: the studio serves this machine only ({', '.join(LOCAL_HOSTS)})")
    lock = threading.Lock()  # one drawing at a time: BatchNorm's eval switch is not thread-safe
    # What the page offers to pick: a conditional model's digits, a model's codes (those it draws), or nothing.
    asks = "digits" if generator.num_classes else "codes" if generator.codes else None
    choices = list(range(generator.num_classes)) if generator.num_classes else generator.drawn_codes() if asks else []
    info = json.dumps({"asks": asks, "choices": choices, "codes_are": CODES_ARE[bool(generator.latent_codes)],
                       "latent_dim": generator.latent_dim, "generator": type(generator).__name__}).encode()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            url = urlparse(self.path)
            if url.path == "/":
                return self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
            if url.path == "/info":
                return self._send(HTTPStatus.OK, info, "application/json")
            if url.path != "/image.png":
                return self._send(HTTPStatus.NOT_FOUND, f"no page {url.path}\n".encode(), "text/plain")
            try:
                mode, params = parse_request(url.query)
                with lock:
                    png = render_png(generator, mode, params)
            except UserInputError as err:
                return self._send(HTTPStatus.BAD_REQUEST, f"{err}\n".encode(), "text/plain; charset=utf-8")
            self._send(HTTPStatus.OK, png, "image/png")

        def log_message(self, format: str, *args) -> None:  # one quiet line per request
            pass

    check_int("port", port, 0, 65535)  # 0: any free port
    try:
        return StudioServer((host, port), Handler)
    except OSError as err:  # in use, or below 1024 without the right to it
        raise ConfigError(f"port={port} is not allowed here: {err.strerror}. Choose another (port=8001), "
                          "or port=0 for any free one") from err


@report_user_errors
def main(argv: list[str] | None = None) -> None:
    parser = KeyValueParser(prog="python -m gan_digits.studio", description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint written by train.py")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = make_server(build_generator(load_checkpoint(args.ckpt)), args.host, args.port)
    print(f"gan_digits studio: http://{args.host}:{server.server_address[1]}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

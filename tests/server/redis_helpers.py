"""A real redis-server and a real nginx for the tests, each on a free 127.0.0.1 port with its own
temporary directory (installed by .ci/setup.d/70-redis.sh; nothing here relies on systemd)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from helpers import free_port, wait_until

REDIS_BINARY = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX_BINARY = shutil.which("nginx") or "/usr/sbin/nginx"


class RedisServer:
    """redis-server on 127.0.0.1 only, AOF on (`appendfsync` as asked), no snapshots."""

    def __init__(self, directory: Path, *, fsync: str = "always", port: int | None = None, extra: tuple[str, ...] = ()):
        self.directory, self.fsync, self.extra = directory, fsync, extra
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [REDIS_BINARY, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "", "--protected-mode", "yes",
             "--daemonize", "no", "--logfile", str(self.directory / "redis.log"), *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, timeout, interval=0.02, message="redis-server answering PING")

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def ping(self) -> bool:
        import redis

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the AOF already holds survives."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {site};
}}
"""


class Nginx:
    """nginx with the repository's site file, pointed at the given gateway ports."""

    def __init__(self, directory: Path, site_template: Path, gateway_ports: list[int]):
        self.directory = directory
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        site = site_template.read_text()
        # The site's upstream lines as they are (their max_fails and fail_timeout included), one
        # per gateway given here.
        template = re.findall(r"^    server 127\.0\.0\.1:\d+(.*)$", site, re.MULTILINE)
        assert len(template) == 3 and len(set(template)) == 1, "the site file's three upstream lines"
        upstreams = "".join(f"    server 127.0.0.1:{p}{template[0]}\n" for p in gateway_ports)
        site = re.sub(r"(^    server 127\.0\.0\.1:\d+.*\n)+", lambda _m: upstreams, site, count=1, flags=re.MULTILINE)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        assert upstreams in site and f"127.0.0.1:{self.port}" in site, "the site file's template lines"
        (directory / "site.conf").write_text(site)
        (directory / "nginx.conf").write_text(NGINX_CONF.format(dir=directory, site=directory / "site.conf"))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen([NGINX_BINARY, "-c", str(self.directory / "nginx.conf"), "-p", str(self.directory)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import socket

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return True
            except OSError:
                return False

        wait_until(listening, timeout, interval=0.02, message="nginx listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        time.sleep(0)

"""A real S3-compatible object store on loopback: SeaweedFS (`weed server -s3`).

Built from the Go module proxy by hack/build-control-plane.sh seaweedfs and cached
like the control plane. Every port is chosen here (gRPC ports too, which SeaweedFS
would otherwise derive as port + 10000), the S3 gateway knows exactly one identity,
with credentials made up for this run, and the bucket is created by the first upload
(the gateway creates buckets for admin identities). Telemetry is off: nothing leaves
the machine.
"""

import json
import secrets
import subprocess
from pathlib import Path
from types import TracebackType

import obstore
import yaml
from obstore.store import S3Store

from tests.harness import procs
from tests.harness.polling import wait_for
from tests.harness.ports import free_ports
from tests.harness.versions import Binaries

BUCKET = "taskmill"
MARKER = ".taskmill-store"
STOP_GRACE = 0.5


class ObjectStore:
    def __init__(self, state_dir: Path, *, binaries: Binaries | None = None) -> None:
        self.state_dir = state_dir
        self.binary = (binaries or Binaries.locate()).weed
        self.endpoint = ""
        self.bucket = BUCKET
        self.access_key_id = "taskmill-" + secrets.token_hex(4)
        self.secret_access_key = secrets.token_urlsafe(30)
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "ObjectStore":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    @property
    def pid(self) -> int:
        """The server's process (all of SeaweedFS runs in it)."""
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self) -> None:
        """Launch the server; wait_ready() then waits for it, so that the caller can start
        other things meanwhile (it takes some seconds). Launched from the thread that will
        stop it: the server dies with that thread."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (data := self.state_dir / "data").mkdir(exist_ok=True)
        ports = free_ports(8)
        s3_port = ports[0]
        self.endpoint = f"http://127.0.0.1:{s3_port}"
        config = self.state_dir / "s3.json"
        config.write_text(json.dumps(self._identities()))
        config.chmod(0o600)
        args = [
            str(self.binary),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            f"-master.port={ports[1]}",
            f"-master.port.grpc={ports[2]}",
            f"-volume.port={ports[3]}",
            f"-volume.port.grpc={ports[4]}",
            f"-filer.port={ports[5]}",
            f"-filer.port.grpc={ports[6]}",
            "-s3",
            f"-s3.port={s3_port}",
            f"-s3.port.grpc={ports[7]}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
        ]
        self._proc = procs.spawn(args, self.state_dir / "weed.log", die_with_parent=True)

    def wait_ready(self) -> None:
        wait_for(self._ready, timeout=90, what="SeaweedFS S3 gateway accepting uploads")

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            # The data is scratch, and weed's graceful shutdown takes 10-25 s: no grace.
            procs.stop_group(self._proc.pid, procs.child_exited(self._proc), grace=STOP_GRACE)
            self._proc = None

    def _identities(self) -> dict[str, object]:
        return {
            "identities": [
                {
                    "name": "taskmill",
                    "credentials": [
                        {"accessKey": self.access_key_id, "secretKey": self.secret_access_key}
                    ],
                    "actions": ["Admin", "Read", "List", "Write"],
                }
            ]
        }

    def _ready(self) -> bool:
        """The first upload also creates the bucket."""
        try:
            obstore.put(self.client(), MARKER, b"")
        except Exception:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self._proc.returncode}; see {self.state_dir / 'weed.log'}"
                ) from None
            return False
        return True

    def client(self) -> S3Store:
        return S3Store(
            self.bucket,
            config={
                "endpoint": self.endpoint,
                "region": "us-east-1",
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "virtual_hosted_style_request": False,
            },
            client_options={"allow_http": True},
        )

    def stores_file(self, dest: Path, name: str = "main") -> Path:
        """A provider's stores file for this store, its credentials in a directory beside
        it the way a mounted Secret would hold them."""
        creds = dest.parent / f"{name}-credentials"
        creds.mkdir(parents=True, exist_ok=True)
        (creds / "accessKeyId").write_text(self.access_key_id)
        (creds / "secretAccessKey").write_text(self.secret_access_key)
        body = {
            "default": name,
            "stores": {
                name: {
                    "endpoint": self.endpoint,
                    "bucket": self.bucket,
                    "credentials": creds.name,
                }
            },
        }
        dest.write_text(yaml.safe_dump(body))
        return dest

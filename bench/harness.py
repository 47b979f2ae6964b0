"""Run the shared ``regbench.py``, asking for a mount source's pull scope as docker does.

    python bench/harness.py PATH/TO/regbench.py [--no-mount-scope] -- REGBENCH-ARGS...

regbench takes a token's scopes from the registry's ``WWW-Authenticate`` challenge only. For a
cross-repository mount (``POST …/blobs/uploads/?mount=D&from=SRC``) Distribution's challenge
names ``repository:SRC:pull`` too; Dockyard's names only the target's ``push``, and a token
without pull on ``SRC`` turns the mount into a plain upload (202), which regbench's setup
refuses ("cross-repo mount not honoured"). docker and containerd add the source's pull scope
to their token request themselves, so this shim does the same: when a mount is challenged with
a Bearer scope that lacks ``repository:SRC:pull``, it is added before regbench fetches the
token. Against a registry whose challenge already names it, the shim changes nothing.
``--no-mount-scope`` runs regbench unchanged.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("regbench", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"harness: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["regbench"] = module
    spec.loader.exec_module(module)
    return module


def add_mount_source_scope(regbench: ModuleType) -> None:
    original = regbench.Auth.on_401

    def on_401(self: Any, method: str, path: str, www_auth: str | None, sent: Any) -> Any:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        source = query.get("from", [""])[0]
        if source and "mount" in query and www_auth:
            scheme, params = regbench.parse_challenge(www_auth)
            wanted = f"repository:{source}:pull"
            scopes = params.get("scope", "").split()
            if scheme == "bearer" and "realm" in params and wanted not in scopes:
                params["scope"] = " ".join([*scopes, wanted])
                www_auth = "Bearer " + ",".join(f'{k}="{v}"' for k, v in params.items())
        return original(self, method, path, www_auth, sent)

    regbench.Auth.on_401 = on_401


def main(argv: list[str]) -> int:
    if not argv or "--" not in argv:
        raise SystemExit(__doc__)
    cut = argv.index("--")
    own, passthrough = argv[:cut], argv[cut + 1 :]
    regbench = load(Path(own[0]))
    if "--no-mount-scope" not in own[1:]:
        add_mount_source_scope(regbench)
    sys.argv = [own[0], *passthrough]
    status: int = regbench.main()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

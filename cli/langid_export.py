"""Export py3langid's bundled model as the compact int8 `.npz` `chalicelib.classify.language` reads (dev tool)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.classify.language import _NO_ALIAS, EXPORTED_LANGUAGES, MODEL_DIR, MODEL_FILE


def _trie_nodes(nextmove: Any, rowbase: Any) -> dict[int, bytes]:
    """The byte string of every DFA state: breadth first, a state is first reached by its own string."""
    import numpy as np

    depth = np.full(len(rowbase), -1)
    depth[0] = 0
    strings = {0: b""}
    frontier = np.array([0])
    level = 0
    while len(frontier):
        nxt = nextmove[(rowbase[frontier] << 8)[:, None] + np.arange(256)[None, :]]
        parent, byte = np.nonzero(depth[nxt] < 0)
        states, first = np.unique(nxt[parent, byte], return_index=True)
        level += 1
        depth[states] = level
        for s, p, b in zip(states.tolist(), frontier[parent[first]].tolist(), byte[first].tolist(), strict=True):
            strings[s] = strings[p] + bytes([b])
        frontier = states
    return strings


def export_model(out_dir: Path = MODEL_DIR) -> list[Path]:
    """Write py3langid's bundled model as the compact artefact (dev-time step; needs py3langid)."""
    import io
    import lzma

    import numpy as np
    from py3langid.langid import MODEL_DIR as PKG_DIR
    from py3langid.langid import MODEL_FILE as PKG_FILE

    with lzma.open(PKG_DIR / PKG_FILE) as fh, np.load(io.BytesIO(fh.read())) as data:
        classes = [_NO_ALIAS.get(str(c), str(c)) for c in data["classes"].tolist()]
        keep = [i for i, c in enumerate(classes) if c in EXPORTED_LANGUAGES]
        ptc = data["ptc"][:, keep].astype(np.float32)
        pc = data["pc"][keep].astype(np.float32)
        nextmove = data["nextmove"].astype(np.int64)
        rowbase = data["nextmove_row"].astype(np.int64)
        out_feat = data["out_feat"].astype(np.int64)
    ptc -= ptc.mean(axis=1, keepdims=True)
    scale = np.abs(ptc).max(axis=1) / 127
    scale[scale == 0] = 1.0
    quant = np.clip(np.rint(ptc / scale[:, None]), -127, 127).astype(np.int8)
    strings = _trie_nodes(nextmove, rowbase)
    del strings[0]
    states = np.array(sorted(strings), dtype=np.int64)
    keys = np.array([int.from_bytes(b"\x01" + strings[s], "big") for s in states.tolist()], dtype=np.uint64)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MODEL_FILE
    np.savez(
        path,
        classes=np.array([classes[i] for i in keep]),
        pc=pc,
        ptc=quant,
        scale=scale.astype(np.float16),
        node_keys=keys,
        node_feat=out_feat[states].astype(np.int32),
    )
    return [path]

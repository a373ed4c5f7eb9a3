"""Search-time parameters of approximate FAISS indexes: how much of the index one search visits.

HNSW visits `efSearch` graph candidates per query and IVF scans `nprobe` of its lists. FAISS's
defaults (efSearch 16, nprobe 1) are tuned for speed, not recall: at 100k isotropic 512-d vectors
they return the true nearest neighbour about half the time (benchmarks/RESULTS.md). So an index
gets measured defaults unless the caller sets its own, and a parameter its factory does not use
is refused rather than ignored, since a silently ignored setting looks like a tuned index.

Parameters are written as FAISS's ParameterSpace strings: comma-separated `name=value` pairs,
e.g. "efSearch=128" or "nprobe=32". They are runtime settings: nothing here is saved with an index.
"""

from __future__ import annotations

import faiss

from index.errors import IndexInputError

#: efSearch of HNSW graphs (and of HNSW coarse quantizers) when the caller sets none: at 100k
#: isotropic 512-d vectors 128 found the true nearest neighbour for 97% of queries, 256 for 99.4%.
DEFAULT_EF_SEARCH = 256
#: IVF scans this share of its lists when the caller sets none (see default_nprobe).
NPROBE_SHARE = 1 / 32
MIN_NPROBE = 8
_EXAMPLES = "'efSearch=128' (HNSW) or 'nprobe=32' (IVF)"


def applicable(index: faiss.Index) -> dict[str, int | None]:
    """The search parameters `index` (a bare factory index, not its id map) uses, name -> upper bound."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        return applicable(index.index)
    if isinstance(index, faiss.IndexRefine):
        return applicable(index.base_index)
    if isinstance(index, faiss.IndexHNSW):
        return {"efSearch": None}
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return {}
    return {**applicable(ivf.quantizer), "nprobe": int(ivf.nlist)}


def default_nprobe(nlist: int) -> int:
    """Lists scanned by default: 1/32 of them, at least 8 (all of them for tiny indexes).

    On isotropic 512-d vectors, the hardest case, that finds the true nearest neighbour of
    noisy copies for 99-100% of queries at 10k and 100k vectors while scanning ~3% of the data.
    """
    return min(nlist, max(MIN_NPROBE, round(nlist * NPROBE_SHARE)))


def defaults(index: faiss.Index) -> dict[str, int]:
    """The parameters `index` is searched with when the caller sets none."""
    chosen = {}
    for name, high in applicable(index).items():
        chosen[name] = DEFAULT_EF_SEARCH if name == "efSearch" else default_nprobe(high)
    return chosen


def parse(params: str, index: faiss.Index, factory: str) -> dict[str, int]:
    """`params` as name -> value, each checked to apply to `index` (built from `factory`) and in range."""
    if not isinstance(params, str):
        raise IndexInputError(
            f"search_params must be a string such as {_EXAMPLES} (or '' for the defaults), "
            f"got {type(params).__name__} {params!r}"
        )
    known = applicable(index)
    parsed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in params.split(","))):
        name, _, value = (s.strip() for s in part.partition("="))
        if not value.isdigit() or not name:
            raise IndexInputError(
                f"search_params must be comma-separated name=value pairs with whole-number values, "
                f"such as {_EXAMPLES}, got {params!r} (at {part!r}); fix that pair or leave "
                "search_params empty for the defaults"
            )
        if name not in known:
            uses = (f"which uses only {', '.join(known)}" if known
                    else "which has no search-time parameters (exact search visits every vector)")
            raise IndexInputError(
                f"search parameter {name!r} (in search_params {params!r}) does not apply to factory "
                f"{factory!r}, {uses}; drop it" + (f" or set one of {', '.join(known)}" if known else "")
            )
        high = known[name]
        if int(value) < 1 or (high is not None and int(value) > high):
            accepted = f"from 1 to {high} (the IVF lists of factory {factory!r})" if high else ">= 1"
            raise IndexInputError(f"search parameter {name} must be {accepted}, got {value}")
        parsed[name] = int(value)
    return parsed


def apply(index: faiss.Index, values: dict[str, int]) -> None:
    """Set `values` on `index` (any wrapper of the index they were parsed for, e.g. its id map)."""
    space = faiss.ParameterSpace()
    for name, value in values.items():
        space.set_index_parameter(index, name, float(value))


def describe(values: dict[str, int]) -> str:
    """`values` as a ParameterSpace string, e.g. 'efSearch=128'; '' when there are none."""
    return ",".join(f"{name}={value}" for name, value in sorted(values.items()))

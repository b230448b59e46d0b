"""``pmm``: predictive mean matching (Little 1988; type-1 matching as mice's default).

The regression parameters are drawn as in ``norm``; donors (observed rows) are predicted with
the least-squares coefficients, recipients with the drawn ones, and each recipient takes the
observed value of one of its ``donors`` nearest donors, chosen at random. Matching sorts the
donor predictions once and looks ``donors`` places either side of each recipient's insertion
point: O(n log n), never an n_mis x n_obs distance matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxmice._src.numerics.random import draw_linear
from jaxmice.methods.base import Draw, Imputer, MethodInfo, Target, VisitInputs, at_least_one
from jaxmice.methods.norm import RIDGE

#: the default number of nearest donors a recipient's donor is drawn from
DONORS = 5


def _sortable(values: jax.Array) -> jax.Array:
    """u32[n] keys whose unsigned order is the order of ``values`` (as float32)."""
    bits = jax.lax.bitcast_convert_type(values.astype(jnp.float32), jnp.uint32)
    return jnp.where(bits >> 31 == 1, ~bits, bits | jnp.uint32(0x80000000))


def sort_order(key: jax.Array, values: jax.Array) -> jax.Array:
    """i[n] an ordering of ``values`` with ties broken at random.

    Packs the float32 order of each value and a randomly permuted row number into one uint64
    and sorts that: a single-operand integer sort is several times faster on CPU than sorting
    floats with an index. The row number is permuted by ``i -> a i + b (mod 2^32)`` with a
    random odd ``a``, a bijection, so tied values come out in random order and the row is
    recovered exactly.
    """
    n = values.shape[0]
    ab = jax.random.bits(key, (2,), dtype=jnp.uint32)
    a, b = ab[0] | jnp.uint32(1), ab[1]
    inverse = a
    for _ in range(5):  # Newton's iteration for the inverse of an odd number mod 2^32
        inverse = inverse * (jnp.uint32(2) - a * inverse)
    mixed = jnp.arange(n, dtype=jnp.uint32) * a + b
    packed = (_sortable(values).astype(jnp.uint64) << 32) | mixed.astype(jnp.uint64)
    low = (jnp.sort(packed) & jnp.uint64(0xFFFFFFFF)).astype(jnp.uint32)
    return ((low - b) * inverse).astype(jnp.int32)


def match(
    key: jax.Array, donor_pred: jax.Array, is_donor: jax.Array, target_pred: jax.Array,
    donors: int
) -> jax.Array:
    """Pick, for every row, one of the ``donors`` donors whose predictions are nearest.

    The d nearest donors of a point are a block of the sorted donor list: k of the d donors
    just below the point and d - k just above, where k counts the i with
    ``below_i <= above_(d+1-i)`` (distances to the i-th donor below / above). One of the d is
    drawn uniformly, without computing or sorting the d distances per recipient.

    Args:
        key: PRNG key.
        donor_pred: f[n] predictions used for donors.
        is_donor: bool[n] rows that may donate.
        target_pred: f[n] predictions of the rows to match (all rows; the caller keeps the
            ones it needs).
        donors: number of nearest donors to choose among (static).

    Returns:
        i[n] the donor row chosen for each row.
    """
    n = donor_pred.shape[0]
    k_sort, k_pick = jax.random.split(key)
    # matching runs on float32-rounded predictions, the precision the sort key holds
    pred = jnp.where(is_donor, donor_pred, jnp.inf).astype(jnp.float32)
    target_pred = target_pred.astype(jnp.float32)
    order = sort_order(k_sort, pred)  # donors first
    sorted_pred = pred[order]
    n_donors = is_donor.sum()
    pos = jnp.searchsorted(sorted_pred, target_pred)  # donors below: positions < pos
    steps = jnp.arange(donors)
    below_at = pos[:, None] - 1 - steps[None, :]  # i-th donor below, i = 0 .. d-1
    above_at = pos[:, None] + steps[None, :]
    below = jnp.where(below_at >= 0, target_pred[:, None]
                      - sorted_pred[jnp.clip(below_at, 0, n - 1)], jnp.inf)
    above = jnp.where(above_at < n_donors, sorted_pred[jnp.clip(above_at, 0, n - 1)]
                      - target_pred[:, None], jnp.inf)
    n_below = jnp.sum(jnp.isfinite(below) & (below <= above[:, ::-1]), axis=1)
    pick = jax.random.randint(k_pick, (n,), 0, jnp.clip(n_donors, 1, donors))
    at = jnp.where(pick < n_below, pos - 1 - pick, pos + pick - n_below)
    return order[jnp.clip(at, 0, n - 1)]


def make(target: Target, *, donors: int = DONORS, ridge: float = RIDGE) -> Imputer:
    """Bind ``pmm`` to a target (continuous, binary or ordinal: donors give observed codes)."""
    donors = at_least_one(donors, "donors", "pmm", target)
    ridge = float(ridge)

    def draw(key: jax.Array, state: tuple, inputs: VisitInputs) -> Draw:
        k_par, k_match = jax.random.split(key)
        par = draw_linear(k_par, inputs.x, inputs.y, inputs.ry.astype(inputs.x.dtype),
                          inputs.keep, ridge, inputs.gram)
        xk = inputs.x * inputs.keep
        rows = match(k_match, xk @ par.fit.coef, inputs.ry, xk @ par.beta, donors)
        return Draw(values=inputs.y[rows], state=state, ok=par.fit.ok & inputs.ry.any())

    return Imputer(init=None, draw=draw)


METHOD = MethodInfo(
    unused_levels=True,
    name="pmm", kinds=frozenset({"continuous", "binary", "ordinal", "count"}), make=make,
    multilevel_alternative="2l.pmm",
    description="predictive mean matching",
)

"""Compiled per-rating SGD for the DotBias model (numba), deterministic on any number of threads.

The model is exactly :class:`bookrec.models.dot.DotBias`::

    r_hat(u, b) = lo + (hi - lo) * sigmoid(bu[u] + bb[b] + p[u] . q[b])

trained on the squared error with L2 on every parameter, applied at every occurrence of a reader or book
(as in Funk's SVD and LIBMF), by SGD with RMSprop step sizes kept per embedding row (LIBMF keeps AdaGrad
ones per row) or by plain SGD.

Parallelism follows LIBMF's block scheduling, made deterministic: readers and books are each split into
``n_blocks`` groups, so the ratings form an ``n_blocks x n_blocks`` grid. An epoch is ``n_blocks`` rounds;
in each round the ``n_blocks`` blocks of one "diagonal" share no reader and no book, so threads update them
in parallel without races, and the result does not depend on how many threads run or which takes which
block. Every random choice of an epoch (the order of rounds, the diagonals, where each block's pass begins;
the ratings inside each block are shuffled once per seed) comes from ``(seed, epoch)`` alone, so a resumed
run ends bit for bit where an uninterrupted run ends.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from bookrec._random import mix_seed, permutation

_PREFETCH_AHEAD = 8  # ratings ahead whose rows are prefetched: 1.7x faster per thread (4: 1.5x, 16: 1.6x)


@intrinsic
def _prefetch(typingctx, array, row, col):  # type: ignore[no-untyped-def]
    """Ask the CPU to bring the cache line holding ``array[row, col]`` in (no effect on results).

    The SGD pass is bound by memory latency: each rating reads and writes two random rows of the tables.
    """
    signature = types.void(array, row, col)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        indices = [
            context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:], strict=True)
        ]
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, indices, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        name = "llvm.prefetch.p0" if str(byte_pointer) == "ptr" else "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), name
        )
        # read-write (1), high locality (3), data cache (1)
        builder.call(
            function,
            [
                builder.bitcast(pointer, byte_pointer),
                ir.Constant(i32, 1),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True)
def block_sort(
    user_idx: np.ndarray, book_idx: np.ndarray, user_block: np.ndarray, book_block: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order ratings by grid block (reader block major, stable inside a block).

    Returns:
        ``(order, ptr)``: rating positions grouped by block, and ``ptr`` of length ``n_blocks**2 + 1`` so that
        block ``(i, j)`` holds ``order[ptr[i * n_blocks + j]:ptr[i * n_blocks + j + 1]]``.
    """
    n = user_idx.shape[0]
    n_cells = n_blocks * n_blocks
    counts = np.zeros(n_cells + 1, dtype=np.int64)
    cell = np.empty(n, dtype=np.int32)
    for k in range(n):
        c = user_block[user_idx[k]] * n_blocks + book_block[book_idx[k]]
        cell[k] = c
        counts[c + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        c = cell[k]
        order[fill[c]] = k
        fill[c] += 1
    return order, ptr


@njit(cache=True, inline="always")
def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@njit(cache=True, parallel=True)
def shuffle_blocks(
    user_idx: np.ndarray,
    book_idx: np.ndarray,
    rating: np.ndarray,
    order: np.ndarray,
    ptr: np.ndarray,
    seed: int,
    epoch: int,
    out_user: np.ndarray,
    out_book: np.ndarray,
    out_rating: np.ndarray,
) -> None:
    """Lay the ratings out block by block, each block in its own random order for ``(seed, epoch)``.

    Contiguous arrays let an SGD pass read sequentially (reading through shuffled positions instead made
    the pass twice as slow).
    """
    n_cells = ptr.shape[0] - 1
    for cell in prange(n_cells):
        start = ptr[cell]
        count = ptr[cell + 1] - start
        if count == 0:
            continue
        local = permutation(count, mix_seed(seed, epoch, cell))
        for s in range(count):
            k = order[start + local[s]]
            out_user[start + s] = user_idx[k]
            out_book[start + s] = book_idx[k]
            out_rating[start + s] = rating[k]


@njit(cache=True, parallel=True)
def group_readers_in_blocks(
    block_user: np.ndarray,
    block_book: np.ndarray,
    block_rating: np.ndarray,
    ptr: np.ndarray,
    user_key: np.ndarray,
) -> None:
    """Inside each block, bring each reader's ratings together (readers in ``user_key`` order, stable).

    A reader's factor row then stays in cache for all their ratings in the block, and the block's books
    (a sixteenth of the catalogue) fit in L2: the SGD pass became 2.4x faster on goodbooks-shaped data
    (0.30 -> 0.12 s an epoch) at the same validation RMSE (within 0.0003 there and on MovieLens, 3 seeds).
    The order of a reader's own ratings stays shuffled, and ``user_key`` is a random permutation per seed.
    """
    n_cells = ptr.shape[0] - 1
    for cell in prange(n_cells):
        start = ptr[cell]
        end = ptr[cell + 1]
        if end - start < 2:
            continue
        keys = np.empty(end - start, dtype=np.int64)
        for s in range(end - start):
            keys[s] = user_key[block_user[start + s]]
        order = np.argsort(keys, kind="mergesort")
        users = block_user[start:end].copy()
        books = block_book[start:end].copy()
        stars = block_rating[start:end].copy()
        for s in range(end - start):
            block_user[start + s] = users[order[s]]
            block_book[start + s] = books[order[s]]
            block_rating[start + s] = stars[order[s]]


@njit(cache=True, parallel=True, fastmath=True)
def sgd_epoch(
    user_idx: np.ndarray,
    book_idx: np.ndarray,
    rating: np.ndarray,
    ptr: np.ndarray,
    n_blocks: int,
    user_factors: np.ndarray,
    book_factors: np.ndarray,
    user_bias: np.ndarray,
    book_bias: np.ndarray,
    user_sq: np.ndarray,
    book_sq: np.ndarray,
    round_lr: np.ndarray,
    user_reg: np.ndarray,
    book_reg: np.ndarray,
    bias_center: float,
    bias_lr_mult: float,
    rho: float,
    lo: float,
    hi: float,
    seed: int,
    epoch: int,
) -> float:
    """One SGD pass over ratings laid out by :func:`shuffle_blocks`, updating the tables in place.

    Each block's ratings are visited in their stored order from a random starting point for
    ``(seed, epoch)``: as good as a fresh shuffle every epoch (RMSE within 0.0005 on MovieLens and
    goodbooks-shaped data) and 20% faster, since the pass reads sequentially and needs no copy per epoch.

    Each rating takes one step on ``0.5 * err**2 + 0.5 * reg * |theta|**2`` for the reader's and the
    book's factors and biases (``theta``), where ``err = r_hat - r``.

    With ``rho > 0`` the step is RMSprop with one second-moment estimate per embedding row: ``user_sq[u, 0]``
    tracks the mean squared gradient of reader ``u``'s factor vector, ``user_sq[u, 1]`` that of the bias,
    and each step is ``lr * grad / sqrt(sq + 1e-8)`` (``bias_lr_mult * lr`` for biases). With ``rho == 0``
    it is plain SGD, ``lr * grad``, and ``user_sq`` / ``book_sq`` are not touched. ``round_lr[t]`` is the
    learning rate of round ``t`` (the schedule is sampled once per round).

    Returns:
        The sum of squared errors, each measured just before its rating's update.
    """
    n_factors = user_factors.shape[1]
    one = np.float32(1.0)
    eps = np.float32(1e-8)
    span = np.float32(hi - lo)
    lo32 = np.float32(lo)
    rho32 = np.float32(rho)
    center32 = np.float32(bias_center)
    adaptive = rho > 0.0
    inv_k = np.float32(1.0 / n_factors)
    rows = permutation(n_blocks, mix_seed(seed, epoch, 1_000_003))
    cols = permutation(n_blocks, mix_seed(seed, epoch, 1_000_033))
    rounds = permutation(n_blocks, mix_seed(seed, epoch, 1_000_037))
    sse_cells = np.zeros(n_blocks * n_blocks, dtype=np.float64)
    for t in range(n_blocks):
        lr = np.float32(round_lr[t])
        bias_lr = lr * np.float32(bias_lr_mult)
        shift = rounds[t]
        for i in prange(n_blocks):
            cell = rows[i] * n_blocks + cols[(i + shift) % n_blocks]
            start = ptr[cell]
            end = ptr[cell + 1]
            count = end - start
            # Each epoch enters the block's (once shuffled) ratings at a random point and wraps around.
            offset = np.int64(mix_seed(seed, epoch, cell) % np.uint64(max(count, 1)))
            sse = 0.0
            for s in range(count):
                k = start + offset + s
                if k >= end:
                    k -= count
                ahead = k + _PREFETCH_AHEAD
                if ahead >= end:
                    ahead -= count
                    if ahead >= end:  # a block of fewer ratings than the distance
                        ahead = k
                for f in range(0, n_factors, 16):  # 16 float32 per 64-byte cache line
                    _prefetch(user_factors, user_idx[ahead], f)
                    _prefetch(book_factors, book_idx[ahead], f)
                u = user_idx[k]
                b = book_idx[k]
                # One pass gives the prediction and, for RMSprop, the squared gradient norms
                # |g q + reg p|^2 = g^2 |q|^2 + 2 g reg (p.q) + reg^2 |p|^2 without a second pass.
                pq = np.float32(0.0)
                pp = np.float32(0.0)
                qq = np.float32(0.0)
                for f in range(n_factors):
                    p = user_factors[u, f]
                    q = book_factors[b, f]
                    pq += p * q
                    pp += p * p
                    qq += q * q
                sig = np.float32(_sigmoid(pq + user_bias[u] + book_bias[b]))
                err = lo32 + span * sig - rating[k]
                sse += err * err
                g = err * span * sig * (one - sig)  # d(0.5 err^2) / d(p.q + biases)
                user_reg32 = user_reg[u, 0]
                book_reg32 = book_reg[b, 0]
                g_user_bias = g + user_reg[u, 1] * (user_bias[u] - center32)
                g_book_bias = g + book_reg[b, 1] * (book_bias[b] - center32)
                if adaptive:
                    user_norm = (
                        g * g * qq + np.float32(2.0) * g * user_reg32 * pq + user_reg32 * user_reg32 * pp
                    ) * inv_k
                    book_norm = (
                        g * g * pp + np.float32(2.0) * g * book_reg32 * pq + book_reg32 * book_reg32 * qq
                    ) * inv_k
                    user_sq[u, 0] = rho32 * user_sq[u, 0] + (one - rho32) * user_norm
                    book_sq[b, 0] = rho32 * book_sq[b, 0] + (one - rho32) * book_norm
                    user_sq[u, 1] = rho32 * user_sq[u, 1] + (one - rho32) * g_user_bias * g_user_bias
                    book_sq[b, 1] = rho32 * book_sq[b, 1] + (one - rho32) * g_book_bias * g_book_bias
                    user_step = lr / np.sqrt(user_sq[u, 0] + eps)
                    book_step = lr / np.sqrt(book_sq[b, 0] + eps)
                    user_bias[u] -= bias_lr * g_user_bias / np.sqrt(user_sq[u, 1] + eps)
                    book_bias[b] -= bias_lr * g_book_bias / np.sqrt(book_sq[b, 1] + eps)
                else:
                    user_step = lr
                    book_step = lr
                    user_bias[u] -= bias_lr * g_user_bias
                    book_bias[b] -= bias_lr * g_book_bias
                # L2 folded into a multiplicative decay: two fused multiply-adds per weight.
                user_decay = one - user_step * user_reg32
                book_decay = one - book_step * book_reg32
                user_g = user_step * g
                book_g = book_step * g
                for f in range(n_factors):
                    p = user_factors[u, f]
                    q = book_factors[b, f]
                    user_factors[u, f] = user_decay * p - user_g * q
                    book_factors[b, f] = book_decay * q - book_g * p
            sse_cells[cell] = sse
    total = 0.0
    for c in range(n_blocks * n_blocks):  # a fixed order: the sum does not depend on the threads
        total += sse_cells[c]
    return total


@njit(cache=True, parallel=True, fastmath=True)
def predict(
    user_idx: np.ndarray,
    book_idx: np.ndarray,
    user_factors: np.ndarray,
    book_factors: np.ndarray,
    user_bias: np.ndarray,
    book_bias: np.ndarray,
    lo: float,
    hi: float,
) -> np.ndarray:
    """DotBias predictions for index pairs (the same formula as the torch module)."""
    n = user_idx.shape[0]
    out = np.empty(n, dtype=np.float32)
    n_factors = user_factors.shape[1]
    for k in prange(n):
        u = user_idx[k]
        b = book_idx[k]
        x = user_bias[u] + book_bias[b]
        for f in range(n_factors):
            x += user_factors[u, f] * book_factors[b, f]
        out[k] = lo + (hi - lo) * _sigmoid(x)
    return out

"""The ledger's Merkle tree (RFC 9162): every proof verifies, and any wrong leaf, index, size or path fails."""

import hashlib

import pytest

from detector.provenance import merkle


def leaves(n):
    return [merkle.leaf_hash(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(n)]


def test_small_trees_are_built_as_the_rfc_says():
    a, b, c = leaves(3)
    node = lambda left, right: hashlib.sha256(b"\x01" + left + right).digest()
    assert merkle.leaf_hash("00" * 32) == hashlib.sha256(b"\x00" + bytes(32)).digest()
    assert merkle.root([a]) == a
    assert merkle.root([a, b]) == node(a, b)
    assert merkle.root([a, b, c]) == node(node(a, b), c)  # the left subtree is the largest power of two
    assert merkle.inclusion_proof(2, [a, b, c]) == [node(a, b)]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_every_proof_verifies_and_nothing_else_does(size):
    tree = leaves(size)
    root = merkle.root(tree)
    for index in range(size):
        proof = merkle.inclusion_proof(index, tree)
        assert merkle.verify_inclusion(tree[index], index, size, proof, root)
        if size > 1:
            assert not merkle.verify_inclusion(tree[(index + 1) % size], index, size, proof, root)
            assert not merkle.verify_inclusion(tree[index], (index + 1) % size, size, proof, root)
            assert not merkle.verify_inclusion(tree[index], index, size, proof, merkle.root(tree[:-1]))
            assert not merkle.verify_inclusion(tree[index], index, size, proof[:-1], root)
    assert not merkle.verify_inclusion(tree[0], size, size, [], root)

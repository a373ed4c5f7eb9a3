"""FAISS indexes of registered works: float embeddings and binary perceptual hashes.

Pure computation over numpy arrays and files; imports neither `detector` nor `crawlers`.
"""

"""copyhound's detector: intake, fingerprints, matching, evidence and the CLI edge."""

__version__ = "0.1.0"

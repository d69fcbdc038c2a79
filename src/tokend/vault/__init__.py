"""The token vault (seed 001): third-party OAuth connections, stored encrypted, kept fresh."""

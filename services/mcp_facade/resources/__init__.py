"""Resources: Gumloop artifacts, skills, sessions and runs as gumloop:// resources (see README.md)."""

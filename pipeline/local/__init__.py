"""The local cloud: an AWS-compatible endpoint on loopback and the resources of the template."""

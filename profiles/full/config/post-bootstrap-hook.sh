#!/bin/bash
# Runs once the bootstrap has configured the services.
echo "post-bootstrap hook: $(date)"

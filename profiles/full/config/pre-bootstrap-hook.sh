#!/bin/bash
# Runs after the onecfg patch, before the bootstrap configures any service.
echo "pre-bootstrap hook: $(date)"

"""The ground floor, imported by every layer: errors and their exit codes, file reading and
writing, and how interrupts are held off while containers change."""

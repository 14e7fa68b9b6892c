"""The machine a run or a benchmark ran on, in words (no TensorFlow)."""

import os
import platform


def cpu_description():
    """The CPU model, core count and the matrix / bfloat16 ISA extensions."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
           if f in flags]
    return (f"{model}, {os.cpu_count()} cores"
            + (f" ({', '.join(isa)})" if isa else ""))

"""Builds the optional C line scanner; without a C compiler the install goes on without it."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mtls_doctor.logs._linescan",
            [
                "src/mtls_doctor/logs/_linescan.c",
                "src/mtls_doctor/logs/linescan_certify.c",
                "src/mtls_doctor/logs/linescan_route.c",
                "src/mtls_doctor/logs/linescan_columns.c",
                "src/mtls_doctor/logs/linescan_numbers.c",
            ],
            depends=["src/mtls_doctor/logs/linescan.h"],
            extra_compile_args=["-O2"],
            optional=True,  # pure fallback: logs are then read by DuckDB (slower, same results)
        ),
        Extension(
            "mtls_doctor.logs.vended._jsonlines",
            [
                "src/mtls_doctor/logs/vended/_jsonlines.c",
                "src/mtls_doctor/logs/vended/jsonlines_read.c",
            ],
            depends=["src/mtls_doctor/logs/vended/jsonlines.h"],
            extra_compile_args=["-O2"],
            optional=True,  # pure fallback: vended JSON is then converted with pyarrow
        ),
    ]
)

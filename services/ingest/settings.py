"""Ingest settings (`INGEST_*`), validated at start-up."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB  # S3 refuses smaller parts (except the last one)


class IngestSettings(BaseSettings):
    """Limits of the HTTP edge and of URL imports."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore", frozen=True)

    max_upload_bytes: int = Field(2 * 1024 * MIB, ge=1, description="Largest file accepted by upload (413 past it).")
    part_size: int = Field(
        8 * MIB,
        ge=S3_MIN_PART,
        le=512 * MIB,
        description="S3 multipart part size; also the most one upload buffers in memory. Smaller files are one PUT.",
    )
    max_concurrent_transfers: int = Field(
        16,
        ge=1,
        le=1024,
        description="Uploads and imports in flight at once (each buffers up to one part); 503 past it.",
    )
    sniff_bytes: int = Field(64 * 1024, ge=1024, le=MIB, description="Bytes inspected at the edge before writing.")
    max_form_field_bytes: int = Field(16 * 1024, ge=256, description="Largest non-file form field.")
    allow_private_imports: bool = Field(
        False,
        description="Allow imports from loopback, private, link-local and reserved addresses (tests, closed networks).",
    )
    import_max_bytes: int = Field(2 * 1024 * MIB, ge=1, description="Largest file an import may pull.")
    import_timeout_seconds: float = Field(600.0, gt=0, description="Total time an import may take.")
    import_connect_timeout_seconds: float = Field(10.0, gt=0)
    import_max_redirects: int = Field(5, ge=0, le=20)

    @model_validator(mode="after")
    def _part_fits_sniff(self) -> IngestSettings:
        if self.sniff_bytes > self.part_size:
            raise ValueError("sniff_bytes must not exceed part_size")
        return self

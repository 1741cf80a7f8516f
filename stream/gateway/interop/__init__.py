"""Health IT's formats in at the gateway: pure translation to contract-v1 uploads.

* ``codes`` — LOINC codes, Open mHealth schemas and their units → contract fields and units;
* ``measurements`` — measurements (each with its request element) → one contract-v1 upload;
* ``fhir`` — FHIR R4 Bundles and Observations (``fhir.resources`` models) → measurements;
* ``omh`` — Open mHealth data points → measurements;
* ``outcome`` — answers as FHIR ``OperationOutcome``s;
* ``formats`` — the two ways in as the server's ``admission.Format``.

``docs/interop.md`` has the mapping tables.
"""

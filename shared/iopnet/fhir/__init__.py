"""FHIR R4 reads, the parts every service's ``/fhir/R4`` shares: the Bundle a search
answers, the OperationOutcome an error is, the CapabilityStatement, the router and its
error handling. What each resource says is the owning service's (``api/fhir.py``)."""

from iopnet.fhir.api import (
    FHIR_BASE,
    FHIR_JSON,
    PATIENT_SEARCH,
    FhirError,
    FhirResponse,
    Reader,
    codes_of,
    fhir_router,
    id_of,
    install_fhir_errors,
    not_found,
    patient_of,
    read,
    search,
    searchset,
)
from iopnet.fhir.documents import (
    ResourceSupport,
    SearchParam,
    capability_statement,
    identifier,
    operation_outcome,
    reference,
    score_observation,
)

__all__ = [
    "FHIR_BASE",
    "FHIR_JSON",
    "PATIENT_SEARCH",
    "FhirError",
    "FhirResponse",
    "Reader",
    "ResourceSupport",
    "SearchParam",
    "capability_statement",
    "codes_of",
    "fhir_router",
    "id_of",
    "identifier",
    "install_fhir_errors",
    "not_found",
    "operation_outcome",
    "patient_of",
    "read",
    "reference",
    "score_observation",
    "search",
    "searchset",
]

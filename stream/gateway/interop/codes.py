"""What FHIR and Open mHealth measurements are, in the contract's terms: codes and units.

Each measurement maps to one sample field of contract v1 (``core.schema.SAMPLE_RANGES``) and
its unit to the field's unit; a unit that differs is converted, one that cannot be converted is
refused (``unit_value`` returns None). ``docs/interop.md`` shows these tables.

>>> LOINC["8867-4"].field, LOINC["8867-4"].value(1.5, "/s")
('hr_bpm', 90.0)
>>> round(LOINC["8310-5"].value(98.6, "[degF]"), 2), LOINC["8310-5"].value(37, "mmHg") is None
(37.0, True)
>>> OMH["oxygen-saturation"].field, OMH["oxygen-saturation"].value(97, "%")
('spo2_pct', 97.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

LOINC_SYSTEM: Final = "http://loinc.org"
UCUM_SYSTEM: Final = "http://unitsofmeasure.org"

Convert = Callable[[float], float]


def same(value: float) -> float:
    return float(value)


def per_second_to_per_minute(value: float) -> float:
    return value * 60.0


def per_hour_to_per_minute(value: float) -> float:
    return value / 60.0


def fahrenheit_to_celsius(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def kelvin_to_celsius(value: float) -> float:
    return value - 273.15


def fraction_to_percent(value: float) -> float:
    return value * 100.0


PER_MINUTE: Final[dict[str, Convert]] = {
    "/min": same, "1/min": same, "/s": per_second_to_per_minute, "1/s": per_second_to_per_minute,
    "Hz": per_second_to_per_minute, "/h": per_hour_to_per_minute}


@dataclass(frozen=True, slots=True)
class Measure:
    """One kind of measurement: its contract field, what it is, and its units → the field's."""

    field: str
    name: str
    units: dict[str, Convert]
    whole: bool = False  # a count: whole numbers only

    def value(self, value: float, unit: str) -> float | None:
        """``value`` in the field's unit, or None when ``unit`` is not one of this measure's."""
        convert = self.units.get(unit)
        return None if convert is None else convert(value)


HEART_RATE: Final = Measure("hr_bpm", "heart rate", {
    **PER_MINUTE, "{beats}/min": same, "{beat}/min": same, "{Beats}/min": same})
RESPIRATORY_RATE: Final = Measure("resp_rate_brpm", "respiratory rate", {
    **PER_MINUTE, "{breaths}/min": same, "{breath}/min": same, "{Breaths}/min": same})
OXYGEN_SATURATION: Final = Measure("spo2_pct", "oxygen saturation", {
    "%": same, "1": fraction_to_percent})
BODY_TEMPERATURE: Final = Measure("skin_temp_c", "body temperature", {
    "Cel": same, "[degF]": fahrenheit_to_celsius, "K": kelvin_to_celsius})
STEPS: Final = Measure("steps", "steps", {
    "{steps}": same, "{step}": same, "{count}": same, "1": same, "/d": same, "{steps}/d": same,
    "/(24.h)": same}, whole=True)

#: LOINC code → measure (FHIR ``Observation.code``; the vital-signs profile's codes first)
LOINC: Final[dict[str, Measure]] = {
    "8867-4": HEART_RATE,  # Heart rate
    "59408-5": OXYGEN_SATURATION,  # Oxygen saturation in Arterial blood by Pulse oximetry
    "2708-6": OXYGEN_SATURATION,  # Oxygen saturation in Arterial blood
    "9279-1": RESPIRATORY_RATE,  # Respiratory rate
    "8310-5": BODY_TEMPERATURE,  # Body temperature
    "55423-8": STEPS,  # Number of steps in unspecified time Pedometer
    "41950-7": STEPS,  # Number of steps in 24 hour Measured
}


@dataclass(frozen=True, slots=True)
class OmhMeasure:
    """An Open mHealth schema (``omh:<name>``): where its value is in the body, and its units."""

    measure: Measure
    body_key: str
    units: dict[str, Convert]
    bare_number: bool = False  # step-count 1.x: the value is a number without a unit

    @property
    def field(self) -> str:
        return self.measure.field

    def value(self, value: float, unit: str) -> float | None:
        convert = self.units.get(unit)
        return None if convert is None else convert(value)


#: schema name (namespace ``omh``) → where the value is and its units (the schemas' enums)
OMH: Final[dict[str, OmhMeasure]] = {
    "heart-rate": OmhMeasure(HEART_RATE, "heart_rate", {"beats/min": same}),
    "step-count": OmhMeasure(STEPS, "step_count", {"steps": same}, bare_number=True),
    "oxygen-saturation": OmhMeasure(OXYGEN_SATURATION, "oxygen_saturation", {"%": same}),
    "respiratory-rate": OmhMeasure(RESPIRATORY_RATE, "respiratory_rate", {"breaths/min": same}),
    "body-temperature": OmhMeasure(BODY_TEMPERATURE, "body_temperature", {
        "C": same, "F": fahrenheit_to_celsius, "K": kelvin_to_celsius}),
}

#: Open mHealth duration units → milliseconds (months and years have no fixed length)
DURATION_MS: Final[dict[str, float]] = {"ps": 1e-9, "ns": 1e-6, "us": 1e-3, "ms": 1.0,
                                        "sec": 1000.0, "min": 60_000.0, "h": 3_600_000.0,
                                        "d": 86_400_000.0, "wk": 604_800_000.0}

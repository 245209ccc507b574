#!/usr/bin/env python3
"""A synthetic dataset in dare's generic shape (docs/datasets.md): ITEMS
items with titles and genres, USERS users with demographics, and PER_USER
interactions each (ratings and timestamps), deterministic. For measuring
planning and memory at sizes the bundled dataset does not reach; the texts
mean nothing. Usage: synth_dataset.py OUT_DIR ITEMS USERS [PER_USER=10]"""
import json
import random
import sys
from pathlib import Path

GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
WORDS = ["river", "night", "city", "storm", "garden", "road", "winter", "light", "stone", "harbor", "echo", "field"]


def main():
    out, items, users = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    per_user = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    rng = random.Random(7)
    final, out = out, out.with_name(out.name + ".tmp")  # renamed when whole
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "items.jsonl", "w", encoding="utf-8") as f:
        for i in range(items):
            title = " ".join(rng.choice(WORDS).capitalize() for _ in range(rng.randint(1, 3)))
            f.write(json.dumps({"id": i, "title": f"{title} ({1950 + i % 70})",
                                "genres": rng.sample(GENRES, rng.randint(1, 3))}) + "\n")
    with open(out / "users.jsonl", "w", encoding="utf-8") as f:
        for u in range(users):
            f.write(json.dumps({"id": f"u{u}", "gender": rng.choice(["female", "male"]), "age": rng.randint(18, 70),
                                "occupation": rng.choice(["nurse", "engineer", "teacher", "artist"])}) + "\n")
    with open(out / "interactions.csv", "w", encoding="utf-8") as f:
        f.write("user,item,rating,timestamp\n")
        for u in range(users):
            t = rng.randint(0, 10 ** 8)
            for _ in range(per_user):
                t += rng.randint(1, 10 ** 5)
                f.write(f"u{u},{rng.randrange(items)},{rng.randint(1, 10) / 2},{t}\n")
    out.rename(final)


if __name__ == "__main__":
    main()

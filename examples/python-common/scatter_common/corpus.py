"""The documents to search, read from a directory as examples/search/src/corpus.rs does.

Every regular UTF-8 text file of the directory is a document (hidden files
skipped), in file-name order: the id is the file name, the title its first
line (trimmed), the text the rest. Document i belongs to shard i % shard_count.
"""

import os
import sys
from collections import namedtuple

#: One searchable document.
Document = namedtuple("Document", "id title text")

# What Rust's str::trim removes: Unicode's White_Space. Python's str.strip()
# also removes the separators U+001C..U+001F, which Rust keeps.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005" \
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


class CorpusError(Exception):
    """The corpus directory cannot be read, or holds nothing to index."""


def read_dir(path):
    """The documents of directory `path`, in file-name (byte) order."""
    if not os.path.exists(path):
        raise CorpusError(f"corpus directory {path} does not exist")
    if not os.path.isdir(path):
        raise CorpusError(f"corpus path {path} is not a directory")
    try:
        names = sorted(os.listdir(path), key=os.fsencode)
    except OSError as error:
        raise CorpusError(f"cannot list corpus directory {path}: {error}") from error
    documents = []
    for name in names:
        file = os.path.join(path, name)
        # os.path.isfile follows symbolic links, as Rust's Path::is_file does.
        if name.startswith(".") or not os.path.isfile(file):
            continue
        try:
            with open(file, "rb") as f:
                content = f.read().decode("utf-8")
        except UnicodeDecodeError:
            print(f"skipping corpus file {file}: not UTF-8 text", file=sys.stderr)
            continue
        except OSError as error:
            raise CorpusError(f"cannot read corpus file {file}: {error}") from error
        title, _, text = content.partition("\n")
        name_text = os.fsencode(name).decode("utf-8", "replace")
        documents.append(Document(name_text, title.strip(_WHITE_SPACE), text))
    if not documents:
        raise CorpusError(f"corpus directory {path} holds no UTF-8 text file to index")
    return documents


def shard(documents, shard_index, shard_count):
    """The documents of shard `shard_index` of `shard_count`: positions i with i % shard_count == shard_index."""
    return documents[shard_index::shard_count]

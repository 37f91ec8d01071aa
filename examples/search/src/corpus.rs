//! The documents to search: generated from a seed, or read from a directory,
//! and split into shards.

mod generate;
mod vocabulary;

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::SearchError;

/// The seed of the generated corpus when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// The number of generated documents when none is given.
pub const DEFAULT_DOCS: usize = 20_000;

/// One searchable document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// Unique within the corpus: `doc-000123` when generated, the file name
    /// when read from a directory.
    pub id: String,
    /// A short title; searched along with the text.
    pub title: String,
    /// The body.
    pub text: String,
}

/// An ordered set of documents. Document `i` (in this order) belongs to
/// shard `i % shard_count`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Corpus {
    documents: Vec<Document>,
}

impl Corpus {
    /// `docs` documents generated from `seed`: the same seed and count give
    /// the same corpus on every machine. Words come from a built-in
    /// vocabulary of a few hundred English words, drawn with a Zipf skew.
    pub fn generate(seed: u64, docs: usize) -> Self {
        let zipf = generate::Zipf::new();
        Self {
            documents: (0..docs)
                .map(|i| generate::document(seed, i, &zipf))
                .collect(),
        }
    }

    /// Every regular UTF-8 text file of `dir`, in file-name order: the id is
    /// the file name, the title its first line, the text the rest. Hidden
    /// files (`.name`) and files that are not UTF-8 are skipped, the latter
    /// with a warning.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, SearchError> {
        let dir = dir.as_ref();
        match fs::metadata(dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(SearchError::MissingDir { path: dir.into() });
            }
            Err(source) => {
                return Err(SearchError::ReadDir {
                    path: dir.into(),
                    source,
                });
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(SearchError::NotADirectory { path: dir.into() });
            }
            Ok(_) => {}
        }
        let read_dir_error = |source| SearchError::ReadDir {
            path: dir.into(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(read_dir_error)? {
            let entry = entry.map_err(read_dir_error)?;
            let name = entry.file_name();
            // `Path::is_file` follows symbolic links, so a linked file counts.
            if !name.to_string_lossy().starts_with('.') && entry.path().is_file() {
                files.push((name, entry.path()));
            }
        }
        files.sort();

        let mut documents = Vec::with_capacity(files.len());
        for (name, path) in files {
            let bytes = fs::read(&path).map_err(|source| SearchError::ReadFile {
                path: path.clone(),
                source,
            })?;
            let Ok(content) = String::from_utf8(bytes) else {
                tracing::warn!(file = %path.display(), "skipping a corpus file that is not UTF-8 text");
                continue;
            };
            let (title, text) = content.split_once('\n').unwrap_or((&content, ""));
            documents.push(Document {
                id: name.to_string_lossy().into_owned(),
                title: title.trim().to_owned(),
                text: text.to_owned(),
            });
        }
        if documents.is_empty() {
            return Err(SearchError::NoDocuments { path: dir.into() });
        }
        Ok(Self { documents })
    }

    /// A corpus of the given documents, in the given order.
    pub fn from_documents(documents: Vec<Document>) -> Self {
        Self { documents }
    }

    /// All documents, in corpus order.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// How many documents the corpus holds.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether the corpus holds no document.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// The documents of `shard` out of `shard_count`: those whose position
    /// `i` has `i % shard_count == shard`. Shards of the same count are
    /// disjoint and together hold the whole corpus. A `shard_count` of 0
    /// has no shards, so nothing belongs to one.
    pub fn shard(&self, shard: u32, shard_count: u32) -> Vec<&Document> {
        if shard_count == 0 {
            return Vec::new();
        }
        self.documents
            .iter()
            .skip(shard as usize)
            .step_by(shard_count as usize)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_corpus() {
        let a = Corpus::generate(42, 300);
        assert_eq!(a, Corpus::generate(42, 300));
        assert_ne!(a, Corpus::generate(43, 300));
        assert_eq!(a.len(), 300);
        assert_eq!(a.documents()[123].id, "doc-000123");
        // A longer corpus starts with the shorter one: documents don't depend on the count.
        assert_eq!(&Corpus::generate(42, 500).documents()[..300], a.documents());
    }

    #[test]
    fn generated_documents_have_titles_and_text() {
        let corpus = Corpus::generate(1, 50);
        for doc in corpus.documents() {
            assert!(
                !doc.title.is_empty() && doc.text.split(' ').count() >= 20,
                "{doc:?}"
            );
        }
        let all: String = corpus
            .documents()
            .iter()
            .map(|d| d.text.to_lowercase())
            .collect();
        assert!(all.contains("hello") && all.contains("world"));
    }

    #[test]
    fn shards_partition_the_corpus_by_position() {
        let corpus = Corpus::generate(42, 103);
        let shards: Vec<Vec<&Document>> = (0..4).map(|s| corpus.shard(s, 4)).collect();
        assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), corpus.len());
        for (i, doc) in corpus.documents().iter().enumerate() {
            let owners: Vec<usize> = (0..4)
                .filter(|&s| shards[s].iter().any(|d| d.id == doc.id))
                .collect();
            assert_eq!(owners, vec![i % 4], "{}", doc.id);
        }
        assert!(corpus.shard(0, 0).is_empty());
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("scatter-search-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_directory_reads_in_file_name_order_with_first_line_as_title() {
        let dir = TempDir::new("read");
        fs::write(dir.0.join("b.txt"), "Second\nhello world\n").unwrap();
        fs::write(dir.0.join("a.txt"), "  First  \nbody of a").unwrap();
        fs::write(dir.0.join("c.bin"), [0xff, 0xfe, 0x00]).unwrap();
        fs::write(dir.0.join(".hidden"), "not me").unwrap();
        fs::create_dir(dir.0.join("sub")).unwrap();
        let corpus = Corpus::from_dir(&dir.0).unwrap();
        let got: Vec<(&str, &str, &str)> = corpus
            .documents()
            .iter()
            .map(|d| (d.id.as_str(), d.title.as_str(), d.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a.txt", "First", "body of a"),
                ("b.txt", "Second", "hello world\n")
            ]
        );
    }

    #[test]
    fn a_missing_or_empty_directory_is_a_clear_error() {
        let missing = std::env::temp_dir().join("scatter-search-no-such-dir");
        let err = Corpus::from_dir(&missing).unwrap_err();
        assert!(matches!(err, SearchError::MissingDir { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let dir = TempDir::new("empty");
        let err = Corpus::from_dir(&dir.0).unwrap_err().to_string();
        assert!(err.contains("no UTF-8 text file"), "{err}");

        fs::write(dir.0.join("file"), "x").unwrap();
        let err = Corpus::from_dir(dir.0.join("file"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory"), "{err}");
    }
}

//! The built-in vocabulary of generated documents, most frequent word first.
//!
//! Function words lead, as in English, so the generated text has the skew of
//! real text: a few words everywhere, most words rare. `"world"` and
//! `"hello"` sit among the frequent words so that the demo query
//! `hello world` always has hits.

/// The words, separated by white space, in rank order (rank 0 is drawn
/// most often). One string, so the list stays a compact block of text.
pub(super) const VOCABULARY: &str = "\
    the of and to a in is that for it as was with be by on not he this are or his from at \
    which but world have an they you were her she there one all we their been has when who \
    will more no if out so said what up its about into than them can only hello other new \
    some could time these two may then do first any my now such like our over man me even \
    most made after also did many before must through back years where much your way well \
    down should because each just those people how too little state good very make still own \
    see men work long get here between both life being under never day same another know \
    while last might us great old year off come since against go came right used take three \
    search query shard leaf merge root server request answer result index document river \
    mountain forest city market garden music science history water light stone fire earth \
    wind cloud rain snow summer winter spring autumn morning evening night letter story book \
    page word language voice song house door window road bridge harbor island ocean valley \
    village country kingdom castle tower field farm bread salt honey apple orange lemon tea \
    coffee sugar paper ink pencil table chair lamp clock bell ship train engine wheel signal \
    network cable packet message thread process container image number graph matrix vector \
    circle square triangle pattern design model theory method system energy motion force \
    power speed distance journey travel friend family child teacher student doctor king queen \
    captain sailor farmer painter writer reader singer dancer hunter traveler stranger animal \
    bird horse wolf fox bear whale fish tiger lion eagle owl rabbit mouse cat dog green blue \
    red yellow silver golden dark bright quiet loud gentle brave clever ancient modern \
    distant hidden open broken simple strange happy early late quick slow warm cold deep high \
    learn build write read sing dance remember forget begin finish gather scatter listen \
    speak wonder discover measure count balance share follow lead hope dream";

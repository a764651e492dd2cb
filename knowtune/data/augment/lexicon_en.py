"""English: what a relation is asked as, besides "the {relation} of {subject}".

Each rule matches a relation (a noun phrase, lower-cased) and gives the ways people ask for it
and, where the answer is an entity, the ways they ask back from the answer to the subject.
Placeholders: {s} subject, {S} the same capitalised, {a} answer, {A} capitalised, {r} relation,
{x} the rule's first group (the noun of "number of X", the verb of "year of X"...).
Hand-written because no library maps relation names to question phrasings; the rules cover
relations that recur across encyclopedias, company handbooks and town guides.
"""

from __future__ import annotations

from ..prose.english import EVENT_NOUNS

# the past participle of an event noun, for "When was {s} {x}?": the prose rules' verb -> noun table read
# backwards (the first verb of a noun wins: "construction" -> "built"), and a few nouns it lacks
EVENT_PARTICIPLES = {
    **{noun: verb for verb, noun in reversed(list(EVENT_NOUNS.items()))},
    "foundation": "founded", "incorporation": "incorporated", "acquisition": "acquired", "relocation": "moved",
    "renovation": "renovated", "restoration": "restored", "approval": "approved", "start": "started",
    "completion": "completed",
}



def participle(event: str) -> str | None:
    """"opening" -> "opened", "exile to Hainan" -> "exiled to Hainan", "UNESCO recognition" -> "recognised"."""
    words = event.split()
    if event.lower() in EVENT_PARTICIPLES:
        return EVENT_PARTICIPLES[event.lower()]
    if words and words[0].lower() in EVENT_PARTICIPLES:
        return " ".join([EVENT_PARTICIPLES[words[0].lower()], *words[1:]])
    if len(words) > 1 and words[0].lower() == "first" and words[1].lower() in EVENT_PARTICIPLES:
        return " ".join(["first", EVENT_PARTICIPLES[words[1].lower()], *words[2:]])
    if words and words[-1].lower() in EVENT_PARTICIPLES:
        return EVENT_PARTICIPLES[words[-1].lower()]
    return None


TRANSFORMS = {"participle": participle}

# (relation pattern, forward questions, reverse questions[, transform of {x}]), tried in order, the first
# full match applies
RULES: list[tuple] = [
    (r"(?:co-?)?founders?|set up by|founded by", [
        "Who founded {s}?", "Who started {s}?", "Who set up {s}?", "Who established {s}?",
        "By whom was {s} founded?", "Who is the founder of {s}?"],
     ["What did {a} found?", "What was founded by {a}?", "Which organisation did {a} start?",
      "{A} set up what?"]),
    (r"(?:chief executive|ceo|managing director|boss|chief executive officer)", [
        "Who runs {s}?", "Who is the boss of {s}?", "Who leads {s}?", "Who heads {s}?",
        "Who is in charge of {s}?", "Who is {s}'s chief executive?"],
     ["Which company does {a} run?", "What does {a} lead?", "{A} is the boss of what?"]),
    (r"mayor", ["Who is the mayor of {s}?", "Who governs {s}?", "Who runs the town of {s}?",
                "Who leads {s} as mayor?"],
     ["Which town is {a} the mayor of?", "Where is {a} mayor?"]),
    (r"(?:head )?coach|manager", ["Who coaches {s}?", "Who trains {s}?", "Who is in charge of {s}?"],
     ["Which team does {a} coach?", "What does {a} coach?"]),
    (r"captain", ["Who captains {s}?", "Who is the captain of {s}?"], ["Which team does {a} captain?"]),
    (r"(?:head|director|president|chair(?:man|woman|person)?|leader|principal|headmaster|headmistress|"
     r"curator|commander|keeper|headteacher|head teacher)", [
        "Who leads {s}?", "Who heads {s}?", "Who is in charge of {s}?", "Who runs {s}?"],
     ["What does {a} lead?", "What is {a} in charge of?"]),
    (r"architect|designer", ["Who designed {s}?", "Who was the architect of {s}?", "Whose design is {s}?"],
     ["What did {a} design?", "Which building was designed by {a}?"]),
    (r"author|writer|composer|creator|inventor", ["Who wrote {s}?", "Who created {s}?", "Who made {s}?"],
     ["What did {a} create?", "What is {a} the {r} of?"]),
    (r"owner|parent company|operator", ["Who owns {s}?", "Which company owns {s}?", "Who operates {s}?"],
     ["What does {a} own?", "What does {a} operate?"]),
    (r"(?:delivery|shipping|logistics|courier) (?:partner|company|firm)|courier|carrier", [
        "Which company delivers for {s}?", "Who delivers {s}'s orders?", "Which firm ships {s}'s goods?",
        "Who handles deliveries for {s}?"],
     ["Which company does {a} deliver for?", "Whose orders does {a} deliver?"]),
    (r"supplier|main supplier", ["Who supplies {s}?", "Which company supplies {s}?"], ["Who does {a} supply?"]),
    (r"(?:main |chief |best-known |signature )?products?", [
        "What does {s} make?", "What does {s} produce?", "What is {s} known for making?",
        "What is {s}'s main product?"],
     ["Who makes {a}?", "Which company produces {a}?"]),
    (r"(?:year|date) of (.+)|(.+) (?:year|date)", [
        "When was {s} {x}?", "In what year was {s} {x}?", "What year was {s} {x}?", "{S} was {x} when?"], [],
     "participle"),
    (r"(?:year|date)", ["When did {s} happen?", "In what year was {s}?", "When was {s}?"], []),
    (r"year it became (.+)", ["When did {s} become {x}?", "In what year did {s} become {x}?",
                              "Since when has {s} been {x}?"], []),
    (r"starting year|start year|beginning", ["When did {s} begin?", "When did {s} start?",
                                             "In what year did {s} begin?"], []),
    (r"headquarters(?: city| town)?|head office|base|home city", [
        "Where is {s} based?", "Where is {s} headquartered?", "Where are {s}'s headquarters?",
        "In which city is {s} based?", "Where does {s} have its head office?"],
     ["Which company is based in {a}?", "What is headquartered in {a}?"]),
    (r"location|city|town|village|county|province|district|place|site|island group|host (?:city|town)", [
        "Where is {s}?", "Where is {s} located?", "Where can I find {s}?", "Where does {s} lie?",
        "In which place is {s}?"],
     ["Which place has {a} as its {r}?", "What is located in {a}?", "What lies in {a}?", "What can you find in {a}?",
      "Which {h} is in {a}?"]),
    (r"capital", ["What is the capital of {s}?", "Which city is the capital of {s}?",
                  "Where is the capital of {s}?", "What city is {s} governed from?"],
     ["{A} is the capital of which place?", "Of what is {a} the capital?"]),
    (r"seat(?: of government)?|administrative (?:centre|center)", [
        "Where is {s} governed from?", "Where does the government of {s} sit?", "Where is {s}'s government?"],
     ["Which place is governed from {a}?", "What is run from {a}?"]),
    (r"administering city|administered by", ["Which city administers {s}?", "Which city runs {s}?",
                                             "{S} is governed by which city?"],
     ["What does {a} administer?"]),
    (r"birthplace|place of birth", ["Where was {s} born?", "Where does {s} come from?"],
     ["Who was born in {a}?", "Who came from {a}?", "Who is from {a}?", "Which famous person was born in {a}?"]),
    (r"burial place|grave|tomb", ["Where is {s} buried?", "Where is {s}'s grave?", "Where does {s} rest?"],
     ["Who is buried in {a}?"]),
    (r"(?:place of )?exile(?: in .+)?", ["Where was {s} exiled?", "Where was {s} exiled to?",
                                         "Where did {s} live in exile?"], ["Who was exiled to {a}?"]),
    (r"place of origin|origin|home(?:land)?|only home", [
        "Where does {s} come from?", "Where is {s} from?", "Where is {s} found?", "Where does {s} originate?"],
     ["What comes from {a}?", "What originates in {a}?", "What is found only in {a}?", "Which {h} comes from {a}?"]),
    (r"place of founding", ["Where was {s} founded?", "Where was {s} set up?", "In which place was {s} formed?"],
     ["What was founded in {a}?", "What was set up in {a}?", "Which {h} was founded in {a}?"]),
    (r"river-mouth (?:city|town)|mouth", ["Where does {s} flow into the sea?", "Where does {s} reach the sea?",
                                         "Where does {s} end?"],
     ["Which river flows into the sea at {a}?", "What river reaches the sea at {a}?"]),
    (r"source|spring", ["Where does {s} rise?", "Where does {s} begin?"], []),
    (r"height|elevation|altitude", ["How high is {s}?", "How tall is {s}?", "What is the elevation of {s}?",
                                    "How many metres high is {s}?"], []),
    (r"(?:total )?length", ["How long is {s}?", "What length is {s}?", "How long is {s} in total?"], []),
    (r"(?:sea |land |total )?area|size", ["How big is {s}?", "How large is {s}?", "What area does {s} cover?",
                                         "How much area does {s} cover?"], []),
    (r"depth", ["How deep is {s}?"], []),
    (r"population(?: .*)?|inhabitants|residents", [
        "How many people live in {s}?", "How many inhabitants does {s} have?", "What is {s}'s population?",
        "How populous is {s}?"], []),
    (r"(?:number of )?(?:employees|staff|workers)|workforce|headcount", [
        "How many people work at {s}?", "How many employees does {s} have?", "How many staff does {s} employ?",
        "How big is {s}'s workforce?"], []),
    (r"number of (.+)", ["How many {x} does {s} have?", "How many {x} are there in {s}?",
                         "How many {x} has {s} got?"], []),
    (r"nickname|other name|also known as|alias|byname", [
        "What is {s} nicknamed?", "What nickname does {s} have?", "What is {s} also called?",
        "What do people call {s}?", "By what other name is {s} known?"],
     ["Which place is nicknamed {a}?", "What is called {a}?", "What does the nickname {a} refer to?"]),
    (r"(?:former|old|earlier|previous|original) name", [
        "What was {s} called before?", "What was the old name of {s}?", "What was {s} formerly known as?",
        "What did {s} use to be called?"],
     ["Which place used to be called {a}?", "What is {a} called today?"]),
    (r"real name|birth name", ["What was {s}'s real name?", "What is the real name of {s}?",
                               "What was {s} really called?"], ["Who was {a} better known as?"]),
    (r"(?:meaning of the name|name meaning)", ["What does the name {s} mean?", "What does {s} mean?"], []),
    (r"namesake(?: .*)?|named after", ["Who is {s} named after?", "What is {s} named after?",
                                       "Where does the name of {s} come from?"],
     ["What is named after {a}?", "What takes its name from {a}?", "Which {h} is named after {a}?"]),
    (r"(?:highest|tallest) (peak|mountain|point|building)", [
        "What is the highest {x} in {s}?", "What is the tallest {x} of {s}?", "Which {x} is the highest in {s}?"],
     ["{A} is the highest {x} of where?"]),
    (r"(longest|largest|biggest|oldest|smallest|second-longest|third-longest) (.+)", [
        "What is the {x} in {s}?", "Which is the {x} in {s}?", "Name the {x} in {s}."], []),
    (r"climate(?: type)?", ["What is the climate of {s} like?", "What kind of climate does {s} have?",
                            "What's the weather like in {s}?"], []),
    (r"(?:.* )?language(?: .*)?|(?:.* )?dialect(?: .*)?", ["What language is used in {s}?", "In which language is {s}?"], []),
    (r"(?:official |provincial |national |town )?(flower|tree|bird|animal|symbol|emblem|mascot|colou?r)", [
        "What is the official {x} of {s}?", "Which {x} represents {s}?", "What {x} stands for {s}?"],
     ["{A} is the {x} of which place?"]),
    (r"motto|slogan", ["What is {s}'s motto?", "What motto does {s} have?"], []),
    (r"(?:host|venue|held at|held in)", ["Where is {s} held?", "Where does {s} take place?"],
     ["What is held in {a}?"]),
    (r"date|month|season|day", ["When is {s} held?", "When does {s} take place?", "When is {s}?"], []),
    (r"scientific name|latin name|botanical name", ["What is {s} called in Latin?",
                                                    "What is the Latin name of {s}?"], []),
    (r"launch (?:site|pad|base)|launched from", ["Where was {s} launched from?", "Where did {s} lift off?",
                                                  "From where was {s} launched?"],
     ["What was launched from {a}?", "What lifted off from {a}?", "Which {h} was launched from {a}?"]),
    (r"first[- ]launch rocket|first rocket", ["Which rocket first flew from {s}?", "What was the first rocket launched at {s}?"],
     ["Where did {a} first launch from?"]),
    (r"landfall(?: place| site| point)?(?: in .+)?", [
        "Where did {s} make landfall?", "Where did {s} come ashore?", "Where did {s} hit land?", "Where did {s} strike?"],
     ["What made landfall at {a}?", "What came ashore at {a}?", "Which storm struck {a}?", "Which {h} hit {a}?"]),
    (r"river", ["Which river is {s} on?", "On which river does {s} lie?", "What river is {s} built on?"],
     ["What is on {a}?", "What was built on {a}?", "Which {h} lies on {a}?"]),
    (r"(?:resident|main|typical) (?:animals?|species|wildlife)|wildlife|fauna", [
        "What animals live on {s}?", "What lives on {s}?", "Which animal is {s} known for?", "What animal can you see at {s}?"],
     ["Where do {a} live?", "Where can you see {a}?", "Which {h} is home to {a}?"]),
    (r"(?:main )?protected (?:area|reserve)|reserve|sanctuary", [
        "Where is {s} protected?", "Which reserve protects {s}?", "Where is {s} mainly protected?"],
     ["What does {a} protect?", "Which animal is protected at {a}?", "What is {a} set up to protect?"]),
    (r"editor(?:-in-chief)?", ["Who edits {s}?", "Who is the editor of {s}?"],
     ["What does {a} edit?", "Which newspaper does {a} edit?"]),
    (r"home (?:ground|stadium|venue)|stadium", ["Where does {s} play?", "Where does {s} play its home games?",
                                               "What is {s}'s home ground?"],
     ["Which team plays at {a}?", "Who plays home games at {a}?"]),
    (r"place of (?:wreck|sinking)|wreck site", ["Where did {s} sink?", "Where was {s} wrecked?",
                                                "Where does the wreck of {s} lie?"],
     ["What sank at {a}?", "Which ship was wrecked at {a}?", "What wreck lies at {a}?"]),
    (r"signature dish|house dish|speciality|specialty", ["What dish is {s} known for?", "What is {s} famous for serving?",
                                                         "What should I order at {s}?"],
     ["Which place is known for {a}?", "Where is {a} the signature dish?"]),
    (r"(?:main |key )?ingredient|flavou?ring", ["What is {s} made with?", "What goes into {s}?",
                                                "What is {s} flavoured with?"], ["What is made with {a}?"]),
    (r"(?:shirt |main )?sponsor", ["Who sponsors {s}?", "Which company sponsors {s}?"],
     ["What does {a} sponsor?", "Which team does {a} sponsor?"]),
    (r"trophy|prize|award", ["What trophy does {s} award?", "What prize is given at {s}?", "What do the winners of {s} get?"],
     ["Which contest awards {a}?", "What is {a} awarded at?"]),
    (r"(?:star|main|best-known) exhibit|treasure", ["What is the star exhibit of {s}?",
                                                     "What is the most famous thing on show at {s}?"],
     ["Where is {a} on display?", "Where can I see {a}?", "Which {h} shows {a}?"]),
    (r"(?:former )?(?:occupation|profession|job|trade)", ["What did {s} do for a living?", "What was {s}'s job?",
                                                          "What work did {s} do?"], []),
    (r"(?:local )?newspaper", ["What newspaper does {s} have?", "What is {s}'s local paper?"],
     ["Where is {a} published?", "Which town does {a} cover?"]),
    (r"(last|first) (keeper|director|head|owner|mayor|editor)", ["Who was the {x} {y} of {s}?", "Who was {s}'s {x} {y}?"],
     ["What was {a} the {x} {y} of?"]),
    (r"offshore island", ["Which island lies off {s}?", "What island is off the coast of {s}?"],
     ["What is {a} off the coast of?"]),
    (r"(?:club |team )?colou?rs", ["What colours does {s} play in?", "What are {s}'s colours?"], []),
    (r"capacity", ["How many people does {s} hold?", "How many seats does {s} have?"], []),
    (r"(?:light )?range", ["How far does {s} reach?", "How far can {s}'s light be seen?"], []),
    (r"(?:most numerous|commonest|most common) (.+)", ["What is the most common {x} at {s}?",
                                                       "Which {x} is most numerous at {s}?"], []),
    (r"(?:best-known|best known|most famous|famous) (.+)", ["What is {s} best known for?", "What is {s} famous for?",
                                                            "Which {x} is {s} known for?"], []),
    (r"traditional (.+)", ["What is the traditional {x} of {s}?", "What {x} is traditional for {s}?"],
     ["Whose traditional {x} is {a}?", "Who is known for {a}?", "Who is famous for {a}?"]),
    (r"dynasty|era|period", ["In which dynasty did {s} live?", "What dynasty was {s} from?", "When did {s} live?"], []),
    (r"founding (emperor|ruler|king)", ["Which {x} founded {s}?", "Who founded {s}?"], ["What did {a} found?"]),
    (r"surrounding (sea|ocean|waters)", ["Which {x} surrounds {s}?", "What {x} is {s} in?"], []),
    (r"conservation status", ["How endangered is {s}?", "What is the conservation status of {s}?"], []),
    (r"(?:earliest|first|original) (?:inhabitants|settlers|residents)", ["Who first lived on {s}?",
                                                                          "Who settled {s} first?"], []),
    (r"addressee|recipient", ["Who was {s} addressed to?", "To whom was {s} written?", "Who received {s}?"],
     ["What was addressed to {a}?"]),
    (r"(?:iata|airport|icao) code|code", ["What is the code of {s}?", "Which code does {s} use?"], []),
    (r"abbreviation|short name", ["How is {s} abbreviated?", "What is {s} short for?",
                                  "What is the short name of {s}?"], []),
]

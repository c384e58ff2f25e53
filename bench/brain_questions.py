"""Typed questions with known answers for bench/brain.py, in four kinds: simple facts, arithmetic, units and
definitions. Each kind is split in two halves by position: `tune` (what prompt and sampling changes were tried
on) and `held` (never looked at while tuning, reported next to it to show the changes did not just fit the
questions they were tried on). A reply is right when it holds one of the answer keywords as whole words
(case-insensitive; digits and number words both count where a model may write either)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """One typed question, its kind, its half, and the keywords of which any one makes a reply right."""

    text: str
    keywords: tuple[str, ...]
    kind: str
    half: str


_FACTS = [
    ("What is the capital of Australia?", ("canberra",)),
    ("Who wrote the play Hamlet?", ("shakespeare",)),
    ("What is the longest river in Africa?", ("nile",)),
    ("Which planet is closest to the sun?", ("mercury",)),
    ("What is the hardest natural substance?", ("diamond", "diamonds")),
    ("Who developed the theory of relativity?", ("einstein",)),
    ("What is the capital of Egypt?", ("cairo",)),
    ("What is the largest desert in Africa?", ("sahara",)),
    ("How many players are on a soccer team on the field?", ("eleven", "11")),
    ("What do bees collect from flowers?", ("nectar", "pollen")),
    ("What is the main language spoken in Mexico?", ("spanish",)),
    ("What is the capital of Russia?", ("moscow",)),
    ("Which metal is liquid at room temperature?", ("mercury",)),
    ("What is the largest country in the world by area?", ("russia",)),
    ("Who invented the telephone?", ("bell",)),
    ("What is the capital of the United Kingdom?", ("london",)),
]
_ARITHMETIC = [
    ("What is seven times eight?", ("56", "fifty six", "fifty-six")),
    ("What is one hundred minus thirty?", ("70", "seventy")),
    ("What is fifteen plus twenty?", ("35", "thirty five", "thirty-five")),
    ("What is half of fifty?", ("25", "twenty five", "twenty-five")),
    ("What is nine times nine?", ("81", "eighty one", "eighty-one")),
    ("What is twelve divided by four?", ("3", "three")),
    ("What is two plus two?", ("4", "four")),
    ("What is six times seven?", ("42", "forty two", "forty-two")),
    ("What is the square root of one hundred?", ("10", "ten")),
    ("What is twenty minus eight?", ("12", "twelve")),
    ("What is three squared?", ("9", "nine")),
    ("What is one thousand divided by ten?", ("100", "hundred", "one hundred")),
    ("What is eleven plus eleven?", ("22", "twenty two", "twenty-two")),
    ("What is five times five?", ("25", "twenty five", "twenty-five")),
    ("What is forty divided by eight?", ("5", "five")),
    ("What is thirteen minus four?", ("9", "nine")),
]
_UNITS = [
    ("How many centimeters are in a meter?", ("100", "hundred", "one hundred")),
    ("How many seconds are in a minute?", ("60", "sixty")),
    ("How many grams are in a kilogram?", ("1000", "1,000", "thousand", "one thousand")),
    ("How many days are in a leap year?", ("366", "three hundred sixty six", "three hundred and sixty six")),
    ("How many minutes are in an hour?", ("60", "sixty")),
    ("How many meters are in a kilometer?", ("1000", "1,000", "thousand", "one thousand")),
    ("How many hours are in two days?", ("48", "forty eight", "forty-eight")),
    ("How many weeks are in a year?", ("52", "fifty two", "fifty-two")),
    ("How many millimeters are in a centimeter?", ("10", "ten")),
    ("How many months are in two years?", ("24", "twenty four", "twenty-four")),
    ("How many seconds are in an hour?",
     ("3600", "3,600", "thirty six hundred", "three thousand six hundred")),
    ("How many milliliters are in a liter?", ("1000", "1,000", "thousand", "one thousand")),
    ("How many days are in two weeks?", ("14", "fourteen")),
    ("How many inches are in a foot?", ("12", "twelve")),
    ("How many years are in a century?", ("100", "hundred", "one hundred")),
    ("How many minutes are in half an hour?", ("30", "thirty")),
]
_DEFINITIONS = [
    ("What does a thermometer measure?", ("temperature",)),
    ("What is the process by which plants make food from sunlight called?", ("photosynthesis",)),
    ("What do you call a baby cat?", ("kitten",)),
    ("What do we call frozen water?", ("ice",)),
    ("What do you call a word that means the opposite of another word?", ("antonym", "antonyms")),
    ("What instrument is used to look at stars?", ("telescope", "telescopes")),
    ("What do you call an animal that eats only plants?", ("herbivore", "herbivores", "herbivorous")),
    ("What do we call the force that pulls things toward the ground?", ("gravity",)),
    ("What do you call a baby dog?", ("puppy",)),
    ("What is a shape with six sides called?", ("hexagon",)),
    ("What do you call a person who studies the stars and planets?", ("astronomer",)),
    ("What organ do people use to breathe?", ("lungs", "lung")),
    ("What is the young of a frog called?", ("tadpole", "tadpoles")),
    ("What tool is used to measure weight?", ("scale", "scales")),
    ("What do you call a doctor who treats teeth?", ("dentist",)),
    ("What is a shape with eight sides called?", ("octagon",)),
]

# Written at the start of the 14:25 session, before any of that session's tuning ran, and never looked at
# while tuning: a fresh held-out check, like the spoken set in difficulty (everyday facts a voice assistant
# is asked), none of them in the spoken set, the two halves above or the example answers.
_FRESH = [
    ("What is the capital of China?", ("beijing",), "fact"),
    ("What is the capital of Greece?", ("athens",), "fact"),
    ("Who painted the ceiling of the Sistine Chapel?", ("michelangelo",), "fact"),
    ("What planet do we live on?", ("earth",), "fact"),
    ("How many legs does an insect have?", ("six", "6"), "fact"),
    ("How many wheels does a bicycle have?", ("two", "2"), "fact"),
    ("At what temperature in Fahrenheit does water boil?", ("212",), "fact"),
    ("What color is the sky on a clear day?", ("blue",), "fact"),
    ("Which animal is known for its very long neck?", ("giraffe", "giraffes"), "fact"),
    ("What is the capital of Kenya?", ("nairobi",), "fact"),
    ("What do caterpillars turn into?", ("butterfly", "butterflies", "moth", "moths"), "fact"),
    ("What is the largest continent?", ("asia",), "fact"),
    ("Who was the first president of the United States?", ("washington",), "fact"),
    ("How many sides does a square have?", ("four", "4"), "fact"),
    ("What is twenty plus thirty?", ("fifty", "50"), "arithmetic"),
    ("What is nine minus three?", ("six", "6"), "arithmetic"),
    ("What is four times six?", ("twenty four", "24"), "arithmetic"),
    ("How many days are in a year?", ("365", "three hundred sixty five", "three hundred and sixty five"),
     "units"),
    ("What language do people speak in France?", ("french",), "fact"),
    ("What is the currency of Japan?", ("yen",), "fact"),
    ("What gas do plants take in from the air?", ("carbon dioxide", "co2"), "fact"),
    ("Which ocean lies between Europe and North America?", ("atlantic",), "fact"),
    ("What is the opposite of up?", ("down",), "definition"),
    ("What do you call a baby sheep?", ("lamb", "lambs"), "definition"),
    ("What color is a ripe banana?", ("yellow",), "fact"),
    ("Who discovered penicillin?", ("fleming",), "fact"),
    ("What is the capital of India?", ("delhi", "new delhi"), "fact"),
    ("What is the smallest planet in our solar system?", ("mercury",), "fact"),
    ("How many hours are in half a day?", ("twelve", "12"), "units"),
    ("In which country is the Eiffel Tower?", ("france",), "fact"),
    ("What is bread mainly made from?", ("flour", "wheat"), "fact"),
    ("Which bird is a symbol of peace?", ("dove", "doves"), "fact"),
    ("What is the largest organ of the human body?", ("skin",), "fact"),
    ("How many strings does a standard guitar have?", ("six", "6"), "fact"),
    ("What is the capital of Argentina?", ("buenos aires",), "fact"),
    ("Which metal are most electrical wires made of?", ("copper",), "fact"),
    ("How many planets are in our solar system?", ("eight", "8"), "fact"),
    ("Which animal gives us wool?", ("sheep",), "fact"),
    ("What is the capital of Mexico?", ("mexico city",), "fact"),
    ("Which planet is famous for its rings?", ("saturn",), "fact"),
]

QUESTIONS: list[Question] = [
    Question(text, keywords, kind, "tune" if index % 2 == 0 else "held")
    for kind, group in (("fact", _FACTS), ("arithmetic", _ARITHMETIC), ("units", _UNITS),
                        ("definition", _DEFINITIONS))
    for index, (text, keywords) in enumerate(group)
] + [Question(text, keywords, kind, "fresh") for text, keywords, kind in _FRESH]

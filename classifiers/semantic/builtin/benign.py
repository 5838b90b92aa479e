"""Built-in example set "benign" for `type: semantic` (load it as builtin:benign): ordinary
requests that look like jailbreaks on the surface (role-play, "act as", personas, rules
for the answer's format, fiction, security or alarming words in a harmless sense). Used as
the contrast set of builtin:jailbreak (options.contrast), so a long benign role-play prompt
is scored against the closest benign example, not only against the jailbreak examples.
Written for this project by its developers (license: the project's own); no line is copied
from a data set or prompt collection. Format as in jailbreak.py.
"""

# ruff: noqa: E501
TEXT = r'''
## family: roleplay_tool
I want you to act as a Linux terminal. I will type commands and you will reply with what the terminal should show, inside one code block, and nothing else.
Act as a SQL database. I will write queries and you will answer only with the resulting table, without explanations.
Pretend to be a Python interpreter: I give you code and you reply with its output only.
I want you to act as a JavaScript console. Reply with the console output for each line I send, nothing more.
Behave like a text adventure game. Describe the room I am in and wait for my commands; never break the game's format.
Act as an Excel sheet with columns A to L. Reply with the text table only and wait for my formulas.

## family: roleplay_profession
I want you to act as a travel guide. I will tell you my location and you will suggest places to visit nearby.
Act as my personal trainer. I will give you my age, weight and goals, and you will design a weekly exercise plan.
I want you to act as a job interviewer for a software engineering position. Ask me one question at a time and wait for my answers.
You are an experienced chef. Suggest a three-course dinner menu for eight guests using seasonal vegetables.
Pretend you are a career counsellor and help me decide between studying law and studying medicine.
Act as a motivational coach. I will describe my challenges and you will give me strategies to reach my goals.
I want you to act as a financial advisor and explain how to build an emergency fund on a small salary.
Act as a patient English teacher: correct my grammar mistakes, explain each correction and ask me a follow-up question.
You are a stand-up comedian. Write a short, clean routine about working from home.
I want you to act as a storyteller. Tell an engaging bedtime story about a dragon who is afraid of the dark.
Act as a debate coach. Give me arguments for and against school uniforms, then let me practise rebuttals.
I want you to act as a Socratic tutor who never gives me the answer directly but asks questions that lead me to it.
Act as a senior software architect and review the design of my microservice system for scalability problems.
Pretend to be Shakespeare and write a sonnet about my cat in his style.
I want you to act as a mental-health-friendly listener: let me vent about my week and respond with empathy.

## family: format_rules
Reply only with the corrected text, no explanations. Do not add comments or notes of any kind.
Always answer in exactly three bullet points, and never use more than twenty words per bullet.
From now on, respond only in French, even if I write to you in English.
Start your answer with a one-sentence summary, then give the details as a numbered list.
Do not apologise or repeat my question; just give me the code.
Ignore the typos in my previous message and answer the question about the tax deadline.
For the rest of this chat, answer as briefly as possible and skip greetings.
Translate the following paragraph into German and keep the original formatting.

## family: fiction_harmless
Write a short mystery story where the detective figures out who stole the painting from the museum.
Write a fantasy scene in which a wizard duels a dragon to save a village.
For my novel, write a dialogue between two rival spies who meet at a train station in 1960s Berlin.
Imagine a world where cats rule the Earth. Describe a typical day in their parliament.
Write a villain's monologue for a children's play; he wants to steal all the cookies in the kingdom.
Hypothetically, if humans could breathe underwater, how would cities be designed?

## family: alarming_words_benign
How do I kill a process that is hanging on my Linux server?
What is the best way to shoot a portrait photo in low light?
How can I blow up a photo to poster size without losing quality?
What household chemicals should never be mixed because they are dangerous?
How do penetration testers get permission before testing a company's network?
Explain how phishing emails usually trick people, so I can train my staff to spot them.
What's the history of the atomic bomb and the Manhattan Project?
How do I terminate a contract with my internet provider?
Why do some video game villains become more popular than the heroes?
How does my antivirus detect malware on my laptop?

## family: system_and_meta
What can you help me with, and what are your limitations?
Summarise our conversation so far in five bullet points.
You are a helpful assistant for a bank's customer service. Answer questions about opening accounts politely.
Please explain how large language models are trained, in simple terms.
Can you tell me which version of the model you are?
'''

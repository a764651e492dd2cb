"""The default chat template for base models that ship none (e.g. Gemma-3-270M base).

    <bos>System text (if any)\n\nUser: question\nAssistant: answer<eos>\n

Plain words rather than special turn tokens: a base model has never been trained on
turn tokens, but it has read a great many "User:/Assistant:" dialogues.
"""

DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token if bos_token else '' }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
    "{% else %}Assistant: {{ message['content'] }}{{ eos_token }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def ensure_chat_template(tokenizer) -> bool:
    """Give `tokenizer` the default template if it has none; True when one was added."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True

"""Steps that shape rows for fine-tuning (SFT, DPO) and chats, at distilabel's ``distilabel.steps.formatting`` paths."""
